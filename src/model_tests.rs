//! Loom model tests: the ring's publish/consume edges, the doorbell's
//! sleep/wake handshake, the renderer's drain turn, and the call line's
//! request/answer, explored over every interleaving loom allows.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib model_tests`.

use crate::call_line::{Answer, CallLine, LINE_BYTES, LineCaller, LineServer, Status};
use crate::renderer_side::drain_turn::DrainTurn;
use crate::ring::{Consumer, Producer, PushError};
use crate::sync::{AtomicU64, Backing, Ordering, SharedBytes};
use crate::wait::{Doorbell, Wake};
use crate::wire::layout::{DoorbellWord, RingControl};
use crate::wire::record::{Kind, RecordHeader};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::thread;
use std::time::Duration;

/// A ring's shared state, as the two processes would see it.
struct SharedRing {
    ctrl: RingControl,
    cells: Box<[UnsafeCell<u8>]>,
    words: Box<[AtomicU64]>,
}

// SAFETY: only atomics inside.
unsafe impl Send for SharedRing {}
// SAFETY: only atomics inside.
unsafe impl Sync for SharedRing {}

impl SharedRing {
    fn new(capacity: usize) -> Arc<SharedRing> {
        Arc::new(SharedRing {
            ctrl: RingControl::default(),
            cells: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
            words: (0..capacity / 8).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn halves(&self) -> (Producer, Consumer) {
        // SAFETY: the atomics outlive the halves (each thread holds an Arc).
        let bytes = unsafe {
            SharedBytes::model(self.cells.as_ptr(), self.words.as_ptr(), self.cells.len())
        };
        // SAFETY: the only producer, on a fresh ring that every thread of
        // the model keeps alive (the backing stands in for the mapping).
        let producer = unsafe { Producer::new(&self.ctrl, bytes, no_backing()) };
        // SAFETY: the only consumer, as above.
        let consumer = unsafe { Consumer::new(&self.ctrl, bytes, no_backing()) };
        (producer, consumer)
    }

    fn bell(&self, word: &DoorbellWord) -> Doorbell {
        // SAFETY: `word` is inside `self`, which the caller's Arc keeps alive.
        unsafe { Doorbell::new(word, Wake::FUTEX_ALL, no_backing()) }
    }
}

/// The model's rings live in `Arc<SharedRing>`s that every thread holds, so
/// the halves need no backing of their own.
fn no_backing() -> Backing {
    std::sync::Arc::new(())
}

fn payload(i: u8) -> [u8; 11] {
    std::array::from_fn(|k| i.wrapping_mul(3).wrapping_add(k as u8) ^ 0x5A)
}

/// Records written by one side arrive whole and in order on the other, even
/// when the ring is so small that the producer must reuse released bytes.
#[test]
fn ring_publish_consume() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        // Each record is 40 bytes (24 header + 1 channel + 11 payload, padded)
        // and a push needs 8 more for the next commit word: a 64-byte ring
        // holds one at a time, and the second one wraps around the end onto
        // bytes the consumer copied out of the first.
        let ring = SharedRing::new(64);
        let (mut producer, mut consumer) = ring.halves();
        let r = ring.clone();
        let t = thread::spawn(move || {
            let _keep = &r;
            for i in 0..2u8 {
                loop {
                    match producer.try_push(Kind::Message, b"c", &payload(i), i as u64) {
                        Ok(()) => break,
                        Err(PushError::Full { .. }) => thread::yield_now(),
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
        });
        let mut body = Vec::new();
        for i in 0..2u8 {
            let h = loop {
                match consumer.pop(&mut body).unwrap() {
                    Some(h) => break h,
                    None => thread::yield_now(),
                }
            };
            assert_eq!(h.tag, i as u64);
            assert_eq!(body[0], b'c');
            assert_eq!(&body[1..], &payload(i));
        }
        t.join().unwrap();
    });
}

/// The producer's side: publishes the record tagged 7 and rings the data
/// doorbell, which it returns.
fn publish_seven(producer: &mut Producer, ring: &SharedRing) -> Doorbell {
    producer
        .try_push(Kind::Message, b"c", &payload(7), 7)
        .unwrap();
    let bell = ring.bell(&ring.ctrl.data);
    bell.notify();
    bell
}

/// The consumer's side of the sleep handshake: looks, announces that it
/// sleeps, looks again, sleeps; until a record comes.
fn pop_or_park(consumer: &mut Consumer, bell: &Doorbell, body: &mut Vec<u8>) -> RecordHeader {
    loop {
        if let Some(h) = consumer.pop(body).unwrap() {
            return h;
        }
        let prepared = bell.prepare(Duration::MAX).unwrap();
        if let Some(h) = consumer.pop(body).unwrap() {
            bell.cancel(prepared);
            return h;
        }
        bell.sleep(prepared, Duration::MAX);
    }
}

/// A waiter that hands its CPU over (`wait::park::hand_over`) before it
/// parks still gets its wake-up, and leaves no flag behind: the notifier
/// takes it, or the waiter withdraws it.
#[test]
fn a_hand_over_loses_no_wakeup_and_leaves_no_flag() {
    loom::model(|| {
        let ring = SharedRing::new(64);
        let (mut producer, mut consumer) = ring.halves();
        let r = ring.clone();
        let t = thread::spawn(move || publish_seven(&mut producer, &r).take_hand_over());
        let bell = ring.bell(&ring.ctrl.data);
        let mut body = Vec::new();
        let got = {
            let _handing = bell.hand_over();
            match consumer.pop(&mut body).unwrap() {
                Some(h) => Some(h),
                None => {
                    thread::yield_now();
                    None
                }
            }
        };
        let h = got.unwrap_or_else(|| pop_or_park(&mut consumer, &bell, &mut body));
        assert_eq!(h.tag, 7);
        t.join().unwrap();
        assert_eq!(ring.ctrl.data.handed.load(Ordering::Relaxed), 0);
    });
}

/// The sleep/wake handshake loses no wake-up: a consumer that parks on an
/// empty ring is always woken by the producer's publish. A lost wake-up would
/// leave the consumer asleep forever, which loom reports as a deadlock.
#[test]
fn doorbell_never_loses_a_wakeup() {
    loom::model(|| {
        let ring = SharedRing::new(64);
        let (mut producer, mut consumer) = ring.halves();
        let r = ring.clone();
        let t = thread::spawn(move || drop(publish_seven(&mut producer, &r)));
        let bell = ring.bell(&ring.ctrl.data);
        let mut body = Vec::new();
        let h = pop_or_park(&mut consumer, &bell, &mut body);
        assert_eq!(h.tag, 7);
        assert_eq!(&body[1..], &payload(7));
        t.join().unwrap();
    });
}

/// Main's variant: the waiter raises a flag and parks elsewhere (in `poll` on
/// a socket whose bytes persist); the notifier must see the flag whenever the
/// waiter's re-check missed the data.
#[test]
fn waiting_flag_is_seen_or_data_is() {
    loom::model(|| {
        let ring = SharedRing::new(64);
        let (mut producer, mut consumer) = ring.halves();
        let kicked = Arc::new(AtomicBool::new(false));
        let (r, k) = (ring.clone(), kicked.clone());
        let t = thread::spawn(move || {
            producer
                .try_push(Kind::Message, b"c", &payload(1), 1)
                .unwrap();
            // `notify` with a Kick ring, spelled out so the model can observe it.
            crate::sync::fence(Ordering::SeqCst);
            if r.ctrl.data.sleepers.load(Ordering::Relaxed) != 0 {
                k.store(true, Ordering::Release);
            }
        });
        let bell = ring.bell(&ring.ctrl.data);
        bell.set_waiting(true);
        let mut body = Vec::new();
        let saw_data = consumer.pop(&mut body).unwrap().is_some();
        t.join().unwrap();
        assert!(
            saw_data || kicked.load(Ordering::Acquire),
            "waiter would sleep through the publish"
        );
    });
}

/// A full ring's producer parks on the space doorbell and the consumer's
/// release of bytes wakes it.
#[test]
fn space_doorbell_wakes_a_full_producer() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let ring = SharedRing::new(64);
        let (mut producer, mut consumer) = ring.halves();
        producer
            .try_push(Kind::Message, b"c", &payload(0), 0)
            .unwrap();
        let r = ring.clone();
        let t = thread::spawn(move || {
            let mut body = Vec::new();
            consumer.pop(&mut body).unwrap().unwrap();
            r.bell(&r.ctrl.space).notify();
        });
        let bell = ring.bell(&ring.ctrl.space);
        let mut push = || producer.try_push(Kind::Message, b"c", &payload(1), 1);
        loop {
            if push().is_ok() {
                break;
            }
            let prepared = bell.prepare(Duration::MAX).unwrap();
            if push().is_ok() {
                bell.cancel(prepared);
                break;
            }
            bell.sleep(prepared, Duration::MAX);
        }
        t.join().unwrap();
    });
}

/// The drain turn's hand-over: a caller blocked on a reply drains the ring
/// (so the receiver leaves it alone) while main publishes a message behind
/// the reply. When the caller leaves, either the receiver's re-check sees
/// that nobody is blocked any more and finds the message, or the caller sees
/// the message and the receiver's announced sleep, and wakes it. A lost
/// hand-over leaves the receiver asleep forever: a deadlock loom reports.
#[test]
fn a_leaving_caller_hands_the_ring_to_the_receiver() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let ring = SharedRing::new(64);
        let (mut producer, consumer) = ring.halves();
        let hint = consumer.hint();
        let turn = Arc::new(DrainTurn::default());
        // A caller is blocked on a reply: the ring is not the receiver's.
        turn.set_blocked(1);
        let main = {
            let r = ring.clone();
            thread::spawn(move || {
                producer
                    .try_push(Kind::Message, b"c", &payload(3), 0)
                    .unwrap();
                // Main wakes whoever drains: the receiver and the callers.
                r.bell(&r.ctrl.data).notify();
            })
        };
        let caller = {
            let (r, t, hint) = (ring.clone(), turn.clone(), consumer.hint());
            thread::spawn(move || {
                // Its reply arrived; it leaves, the last blocked caller.
                t.set_blocked(0);
                t.caller_left(&hint, &r.bell(&r.ctrl.data));
            })
        };
        // The receiver: sleep until it may drain a waiting record.
        let bell = ring.bell(&ring.ctrl.data);
        while !turn.receiver_has_work(&hint) {
            let prepared = bell.prepare(Duration::MAX).unwrap();
            if turn.receiver_has_work(&hint) {
                bell.cancel(prepared);
                break;
            }
            bell.sleep(prepared, Duration::MAX);
        }
        main.join().unwrap();
        caller.join().unwrap();
        drop(consumer);
    });
}

/// The call line's shared bytes, as the two processes would see them.
struct SharedLine {
    cells: Box<[UnsafeCell<u8>]>,
    words: Box<[AtomicU64]>,
}

// SAFETY: cells touched only as the protocol allows (loom checks), atomics.
unsafe impl Send for SharedLine {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedLine {}

impl SharedLine {
    fn new() -> Arc<SharedLine> {
        Arc::new(SharedLine {
            cells: (0..LINE_BYTES).map(|_| UnsafeCell::new(0)).collect(),
            words: (0..LINE_BYTES / 8).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn line(&self) -> CallLine {
        // SAFETY: the cells and words outlive the handle (every thread holds
        // the Arc).
        let bytes =
            unsafe { SharedBytes::model(self.cells.as_ptr(), self.words.as_ptr(), LINE_BYTES) };
        // SAFETY: LINE_BYTES, as the model's line is.
        unsafe { CallLine::new(bytes, no_backing()) }
    }
}

/// Two calls in a row on the call line: main never copies a request the
/// renderer is still writing, the renderer never an answer main is still
/// writing (loom reports either as a race on the cells), and each answer
/// reaches its own call.
#[test]
fn call_line_requests_and_answers_do_not_race() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let shared = SharedLine::new();
        let mut server = LineServer::new(shared.line());
        let answers = shared.line();
        let s = shared.clone();
        let main = thread::spawn(move || {
            let _keep = &s;
            for _ in 0..2 {
                let request = loop {
                    match server.take().unwrap() {
                        Some(r) => break r,
                        None => thread::yield_now(),
                    }
                };
                let (channel, payload) = request.parts();
                assert_eq!(channel, b"c");
                let mut answer = payload.to_vec();
                answer.push(request.call_id as u8);
                answers.answer(request.seq, request.call_id, Status::Value, &answer);
            }
        });
        let mut caller = LineCaller::new(shared.line());
        let mut out = Vec::new();
        for call in 1..=2u8 {
            // Its own call id comes back with the answer (the low byte).
            let id = caller.next_call_id() as u8;
            let awaited = caller.publish(0, b"c", &[call; 3]);
            while !caller.answered(awaited) {
                thread::yield_now();
            }
            assert_eq!(caller.take(&mut out), Ok(Answer::Here { failure: false }));
            assert_eq!(out, [call, call, call, id]);
        }
        main.join().unwrap();
    });
}
