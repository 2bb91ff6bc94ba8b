//! `Outgoing` against a real mapping: budgets, forwards, flush batches,
//! a stream's rest, empty replies.

use super::super::budget::MemoryBudget;
use super::*;
use crate::attach::{self, MainEnds, RendererEnds, Wakes};
use crate::os::segment::{Mapping, create_memfd};
use crate::ring::Consumer;
use crate::wait::Wake;
use crate::wire::layout::Layout;
use std::os::fd::AsFd;
use std::sync::Arc;

/// An outgoing half over a fresh segment's 4 KiB reply ring, and the
/// renderer's consumer of it.
fn outgoing() -> (Outgoing, Consumer) {
    let (out, consumer, _, _) = outgoing_within(1 << 30);
    (out, consumer)
}

/// [`outgoing`] whose outbox charges an account of a budget of `limit`
/// bytes, returned too.
fn outgoing_within(limit: usize) -> (Outgoing, Consumer, Arc<Account>, Doorbell) {
    let layout = Layout::new(4096, 4096).unwrap();
    let fd = create_memfd(layout.segment_len).unwrap();
    let mapping = Arc::new(Mapping::map(fd.as_fd(), layout.segment_len).unwrap());
    let futexes = || Wakes {
        request_data: Wake::FUTEX_ALL,
        request_space: Wake::FUTEX_ALL,
        reply_data: Wake::FUTEX_ALL,
        reply_calls: Wake::FUTEX_ALL,
        reply_space: Wake::FUTEX_ALL,
        call: Wake::FUTEX_ALL,
    };
    let main: MainEnds = attach::attach(&mapping, &layout, futexes());
    let renderer: RendererEnds = attach::attach(&mapping, &layout, futexes());
    let b = main.bells;
    let account = Account::new(MemoryBudget::new(limit), limit);
    let out = Outgoing::new(
        account.charge(),
        main.replies,
        (b.reply_data, b.reply_calls, b.reply_space),
        (main.line, b.call),
        (1 << 20, 1 << 20),
    );
    (out, renderer.replies, account, renderer.bells.reply_space)
}

#[test]
fn the_outbox_is_charged_to_the_budget_and_refused_past_it() {
    let (mut out, mut consumer, account, _) = outgoing_within(8 << 10);
    // Fill the ring, then queue: each queued record is charged.
    while out.outbox.is_empty() {
        out.push(Kind::Message, b"m", &[1; 500], 0).ok().unwrap();
    }
    let one = account.held();
    assert!(one >= 500, "a queued record is charged: {one}");
    out.push(Kind::Message, b"m", &[2; 500], 0).ok().unwrap();
    assert!(account.held() > one);
    // Past the budget, the renderer must go, and the reason says why.
    let broken = out.push(Kind::Message, b"m", &[3; 8000], 0).err().unwrap();
    assert!(broken.0.starts_with("memory:"), "{}", broken.0);
    // Flushing gives the memory back.
    let mut body = Vec::new();
    while consumer.pop(&mut body).unwrap().is_some() {
        out.flush().ok().unwrap();
    }
    assert!(out.outbox.is_empty());
    assert_eq!(account.held(), 0);
}

#[test]
fn a_forward_the_sender_cannot_pay_for_ends_with_an_abort() {
    use crate::wire::fragment::{Fed, Reassembly};
    let (mut out, mut consumer) = outgoing();
    // The sender may hold 10 KiB: the first fragments of a 64 KiB
    // message reach the ring, the rest cannot be queued on its account.
    let sender = Account::new(MemoryBudget::new(1 << 30), 10 << 10);
    let big = vec![9u8; 64 << 10];
    let failed = out.forward(b"c", &big, 7, &sender);
    assert!(matches!(failed, Err(ForwardFailed::Sender(_))));
    assert!(sender.held() > 0, "its queued fragments are charged to it");
    out.push(Kind::Message, b"next", b"fine", 0).ok().unwrap();
    // The target sees the message abandoned, then the next one whole.
    let mut reassembly = Reassembly::new(1 << 20);
    let mut body = Vec::new();
    let mut fed = Vec::new();
    while !out.outbox.is_empty() || consumer.has_next() {
        while let Some(h) = consumer.pop(&mut body).unwrap() {
            match reassembly.feed(h, &mut body).unwrap() {
                Fed::Whole(h) => fed.push(format!("whole {}", body.len() - h.channel_len as usize)),
                Fed::Aborted => fed.push("aborted".into()),
                Fed::Partial => {}
            }
        }
        out.flush().ok().unwrap();
    }
    assert_eq!(fed, ["aborted", "whole 4"]);
    assert_eq!(sender.held(), 0, "given back as they left");
}

#[test]
fn one_flush_moves_a_bounded_batch() {
    let (mut out, mut consumer) = outgoing();
    // Tiny records: the ring takes ~100 of them, the outbox the rest.
    for i in 0..1000u64 {
        out.push(Kind::Reply, b"", &i.to_le_bytes(), i)
            .ok()
            .unwrap();
    }
    let mut body = Vec::new();
    let mut popped = 0u64;
    while !out.outbox.is_empty() {
        // The renderer empties the whole ring; one flush refills at most a batch.
        while let Some(h) = consumer.pop(&mut body).unwrap() {
            assert_eq!(h.tag, popped, "nothing lost or reordered");
            popped += 1;
        }
        let before = out.outbox.len();
        out.flush().ok().unwrap();
        assert!(before - out.outbox.len() <= FLUSH_BATCH);
    }
    while let Some(h) = consumer.pop(&mut body).unwrap() {
        assert_eq!(h.tag, popped);
        popped += 1;
    }
    assert_eq!(popped, 1000);
}

#[test]
fn a_streamed_message_s_rest_goes_ahead_of_what_queued_while_it_streamed() {
    let (mut out, mut consumer) = outgoing();
    let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let pieces: Vec<_> = pieces(b"big", &payload, out.max_payload(3), Kind::Message).collect();
    // The first piece went straight in; then a writer streams the rest,
    // and meanwhile another record must queue behind it.
    assert!(
        out.try_write(Kind::Message, b"big", pieces[0].payload, 0, pieces[0].flags)
            .ok()
            .unwrap()
    );
    out.streaming = 1;
    out.push(Kind::Message, b"small", b"after", 0).ok().unwrap();
    assert_eq!(out.outbox.len(), 1, "queued behind the stream");
    assert!(
        !out.flush().ok().unwrap(),
        "a flush leaves the ring to the stream"
    );
    // Patience ran out: the rest goes first.
    out.streaming = 0;
    out.queue_rest_first(Kind::Message, 0, pieces[1..].iter().copied())
        .ok()
        .unwrap();
    let mut reassembly = crate::wire::fragment::Reassembly::new(1 << 20);
    let (mut body, mut got) = (Vec::new(), Vec::new());
    while !out.outbox.is_empty() || consumer.has_next() {
        while let Some(h) = consumer.pop(&mut body).unwrap() {
            if let crate::wire::fragment::Fed::Whole(h) = reassembly.feed(h, &mut body).unwrap() {
                got.push(body[..h.channel_len as usize].to_vec());
                if got.len() == 1 {
                    assert_eq!(&body[3..], &payload[..], "whole and intact");
                }
            }
        }
        out.flush().ok().unwrap();
    }
    assert_eq!(got, [b"big".to_vec(), b"small".to_vec()]);
}

#[test]
fn the_rest_of_a_stream_leaves_the_room_flag_up_while_others_still_wait() {
    let (mut out, mut consumer, _, renderer_space) = outgoing_within(1 << 30);
    // 3 KiB of the 4 KiB ring taken; a writer streams, and a 2 KiB
    // record queues behind it.
    out.push(Kind::Message, b"m", &[0; 3000], 0).ok().unwrap();
    out.streaming = 1;
    out.push(Kind::Message, b"behind", &[0; 2000], 0)
        .ok()
        .unwrap();
    out.streaming = 0;
    // The reader frees room; the stream's rest (one small piece) goes
    // straight in, which leaves no room for the record behind it.
    let mut body = Vec::new();
    consumer.pop(&mut body).unwrap().unwrap();
    // As a flush inside would leave it had the reader freed room while
    // the rest was being queued (a race a test cannot stage): down.
    out.space_bell.set_waiting(false);
    let rest = pieces(b"s", &[1; 2900], out.max_payload(1), Kind::Message).collect::<Vec<_>>();
    let queued = out.queue_rest_first(Kind::Message, 0, rest.into_iter());
    assert!(!queued.ok().unwrap(), "all of the rest went straight in");
    assert_eq!(out.outbox.len(), 1, "the other record still waits");
    // So the renderer must still be asked to kick main when it reads.
    assert!(renderer_space.notify(), "the room flag went down");
}

#[test]
fn an_empty_reply_waiting_in_the_outbox_still_counts() {
    let (mut out, mut consumer) = outgoing();
    // Three records of 1032 bytes fill the ring but for 1000 bytes.
    for _ in 0..3 {
        out.push(Kind::Message, b"m", &[0u8; 1000], 0).ok().unwrap();
    }
    assert!(out.outbox.is_empty());
    // Then a 2008-byte record and an empty reply (24 bytes) must wait.
    out.push(Kind::Message, b"m", &[0u8; 1983], 0).ok().unwrap();
    out.push(Kind::Reply, b"", b"", 7).ok().unwrap();
    assert_eq!(out.outbox.len(), 2);
    // Freeing one record leaves room for the message (2008 + 8 of 2032)
    // but then not for the reply (24 + 8 of the 24 left).
    let mut body = Vec::new();
    consumer.pop(&mut body).unwrap().unwrap();
    assert!(!out.flush().ok().unwrap(), "the reply cannot fit yet");
    assert_eq!(out.outbox.len(), 1);
    assert_ne!(
        out.outbox_bytes, 0,
        "a queued empty reply must keep the flush going"
    );
    while consumer.pop(&mut body).unwrap().is_some() {}
    assert!(out.flush().ok().unwrap());
    assert_eq!(out.outbox_bytes, 0);
}
