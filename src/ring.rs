//! A single-producer/single-consumer ring of variable-length records over a
//! shared control block and data area.
//!
//! Each side keeps its own position as the authoritative copy and only *reads*
//! the peer's position, validating it, so a peer that scribbles over the control
//! block can make the ring look full, empty or corrupt, but cannot make this side
//! touch memory outside the data area.
//!
//! Notes about memory ordering (the only two happens-before edges):
//! - `tail`: the producer writes record bytes, then stores `tail` with Release;
//!   the consumer loads `tail` with Acquire before copying the bytes out.
//! - `head`: the consumer copies bytes out, then stores `head` with Release; the
//!   producer loads `head` with Acquire before overwriting the freed bytes.

use crate::layout::RingControl;
use crate::record::{HEADER_LEN, Kind, RecordHeader, Violation, record_len};
use crate::sync::{Ordering, SharedBytes};
use std::mem::MaybeUninit;

/// Why a push did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// Not enough free space right now; `needed` bytes of ring are required.
    Full { needed: usize },
    /// The record can never fit: it is longer than the whole ring.
    TooLarge { len: usize, capacity: usize },
    /// The consumer published an impossible `head`.
    Violation(Violation),
}

/// Producer half. Owns `tail`.
pub(crate) struct Producer {
    ctrl: *const RingControl,
    data: SharedBytes,
    capacity: u64,
    /// Authoritative tail; the shared one is only ever written from this.
    tail: u64,
    /// Last `head` read from the consumer; in `tail - capacity ..= tail`.
    head_cache: u64,
}

/// Consumer half. Owns `head`.
pub(crate) struct Consumer {
    ctrl: *const RingControl,
    data: SharedBytes,
    capacity: u64,
    /// Authoritative head; the shared one is only ever written from this.
    head: u64,
    /// Last `tail` read from the producer; in `head ..= head + capacity`.
    tail_cache: u64,
}

// SAFETY: the halves hold addresses into a mapping that their owner keeps alive;
// each half is used by one thread at a time (`&mut self`), and the shared state is
// atomics plus bytes whose ownership the protocol hands back and forth.
unsafe impl Send for Producer {}
// SAFETY: see `Send for Producer`.
unsafe impl Send for Consumer {}

/// Copies `src` into the ring at byte position `pos`, wrapping at the end.
///
/// # Safety
/// `src.len() <= data.len()`, and the range is free according to the protocol.
unsafe fn write_wrapping(data: &SharedBytes, pos: u64, src: &[u8]) {
    let start = (pos % data.len() as u64) as usize;
    let first = src.len().min(data.len() - start);
    // SAFETY: `start + first <= len`, free by the caller's guarantee.
    unsafe { data.write(start, &src[..first]) };
    // SAFETY: the rest starts at 0 and is shorter than the ring.
    unsafe { data.write(0, &src[first..]) };
}

/// Copies `dst.len()` bytes from ring position `pos`, wrapping at the end.
///
/// # Safety
/// `dst.len() <= data.len()`.
unsafe fn read_wrapping(data: &SharedBytes, pos: u64, dst: &mut [MaybeUninit<u8>]) {
    let start = (pos % data.len() as u64) as usize;
    let first = dst.len().min(data.len() - start);
    let (a, b) = dst.split_at_mut(first);
    // SAFETY: `start + first <= len`.
    unsafe { data.read(start, a) };
    // SAFETY: the rest starts at 0 and is shorter than the ring.
    unsafe { data.read(0, b) };
}

impl Producer {
    /// # Safety
    /// `ctrl` and `data` must stay valid while the producer lives, and no other
    /// producer may exist for this ring. The ring must be fresh (both positions 0).
    pub unsafe fn new(ctrl: *const RingControl, data: SharedBytes) -> Self {
        Producer {
            ctrl,
            data,
            capacity: data.len() as u64,
            tail: 0,
            head_cache: 0,
        }
    }

    fn ctrl(&self) -> &RingControl {
        // SAFETY: valid by the constructor's contract; it holds only atomics.
        unsafe { &*self.ctrl }
    }

    /// Largest payload a record with a channel of `channel_len` bytes can carry.
    pub fn max_payload(&self, channel_len: usize) -> usize {
        // Padding only rounds up to the capacity, itself a multiple of the alignment.
        self.capacity as usize - HEADER_LEN - channel_len
    }

    /// Bytes free for writing, re-reading the consumer's `head` only when the
    /// cached value says fewer than `wanted` are free.
    fn free(&mut self, wanted: usize) -> Result<usize, Violation> {
        let free = self.capacity - (self.tail - self.head_cache);
        if free >= wanted as u64 {
            return Ok(free as usize);
        }
        // SYNC(head): Acquire ← Release in `Consumer::pop`; bytes before `head`
        // have been copied out and may be overwritten.
        let head = self.ctrl().head.0.load(Ordering::Acquire);
        if head < self.head_cache || head > self.tail {
            return Err(Violation::Position {
                what: "head",
                value: head,
                ours: self.tail,
                capacity: self.capacity,
            });
        }
        self.head_cache = head;
        Ok((self.capacity - (self.tail - head)) as usize)
    }

    /// Whether a push of `len` ring bytes would succeed now.
    pub fn has_room(&mut self, len: usize) -> Result<bool, Violation> {
        Ok(self.free(len)? >= len)
    }

    /// Appends one record made of a header, channel bytes and payload, and
    /// publishes it.
    pub fn try_push(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
    ) -> Result<(), PushError> {
        let len = record_len(channel.len(), payload.len());
        if len as u64 > self.capacity || channel.len() > u8::MAX as usize {
            return Err(PushError::TooLarge {
                len,
                capacity: self.capacity as usize,
            });
        }
        let free = self.free(len).map_err(PushError::Violation)?;
        if free < len {
            return Err(PushError::Full { needed: len });
        }
        let header = RecordHeader::new(kind, channel.len(), payload.len(), call_id);
        let mut pos = self.tail;
        for part in [bytemuck::bytes_of(&header), channel, payload] {
            // SAFETY: the record fits in the free space checked above, so every
            // part lies in bytes the consumer has released.
            unsafe { write_wrapping(&self.data, pos, part) };
            pos += part.len() as u64;
        }
        self.tail += len as u64;
        // SYNC(tail): Release → Acquire in `Consumer::available`; publishes the bytes.
        self.ctrl().tail.0.store(self.tail, Ordering::Release);
        Ok(())
    }
}

impl Consumer {
    /// # Safety
    /// As for [`Producer::new`], for the consumer side.
    pub unsafe fn new(ctrl: *const RingControl, data: SharedBytes) -> Self {
        Consumer {
            ctrl,
            data,
            capacity: data.len() as u64,
            head: 0,
            tail_cache: 0,
        }
    }

    fn ctrl(&self) -> &RingControl {
        // SAFETY: valid by the constructor's contract; it holds only atomics.
        unsafe { &*self.ctrl }
    }

    /// Bytes published and not yet consumed, re-reading `tail` only when the
    /// cached value says the ring is empty.
    pub fn available(&mut self) -> Result<u64, Violation> {
        if self.tail_cache == self.head {
            // SYNC(tail): Acquire ← Release in `Producer::try_push`.
            let tail = self.ctrl().tail.0.load(Ordering::Acquire);
            if tail < self.tail_cache || tail - self.head > self.capacity {
                return Err(Violation::Position {
                    what: "tail",
                    value: tail,
                    ours: self.head,
                    capacity: self.capacity,
                });
            }
            self.tail_cache = tail;
        }
        Ok(self.tail_cache - self.head)
    }

    /// Copies the next record out of the ring, validates it, and releases its
    /// bytes to the producer. `body` receives the channel followed by the payload.
    pub fn pop(&mut self, body: &mut Vec<u8>) -> Result<Option<RecordHeader>, Violation> {
        let available = self.available()?;
        if available == 0 {
            return Ok(None);
        }
        if available < HEADER_LEN as u64 {
            return Err(Violation::Truncated {
                needed: HEADER_LEN as u64,
                available,
            });
        }
        let mut raw = [MaybeUninit::<u8>::uninit(); HEADER_LEN];
        // SAFETY: HEADER_LEN bytes are published, and HEADER_LEN < capacity.
        unsafe { read_wrapping(&self.data, self.head, &mut raw) };
        // SAFETY: `read_wrapping` initialised every byte.
        let raw: [u8; HEADER_LEN] = unsafe { std::mem::transmute(raw) };
        let header: RecordHeader = bytemuck::pod_read_unaligned(&raw);
        let (_, len) = header.validate(available)?;
        let body_len = header.body_len();
        body.clear();
        body.reserve(body_len);
        // SAFETY: `validate` checked HEADER_LEN + body_len <= available <= capacity.
        unsafe {
            read_wrapping(
                &self.data,
                self.head + HEADER_LEN as u64,
                &mut body.spare_capacity_mut()[..body_len],
            )
        };
        // SAFETY: the first `body_len` spare bytes were just initialised.
        unsafe { body.set_len(body_len) };
        self.head += len as u64;
        // SYNC(head): Release → Acquire in `Producer::free`; our copy is done.
        self.ctrl().head.0.store(self.head, Ordering::Release);
        Ok(Some(header))
    }
}

impl RingControl {
    /// A cheap lock-free hint that the consumer has something to read. Only the
    /// consumer calls it, so the `head` it reads is its own.
    pub(crate) fn looks_nonempty(&self) -> bool {
        // Relaxed: a hint; the real check is `Consumer::available`, with Acquire.
        self.tail.0.load(Ordering::Relaxed) != self.head.0.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;
    use crate::layout::{DoorbellWord, Padded};
    use crate::sync::{AtomicU32, AtomicU64};

    pub(crate) fn control() -> Box<RingControl> {
        let bell = || DoorbellWord {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        };
        Box::new(RingControl {
            tail: Padded(AtomicU64::new(0)),
            head: Padded(AtomicU64::new(0)),
            data: bell(),
            space: bell(),
            calls: bell(),
        })
    }

    struct TestRing {
        ctrl: Box<RingControl>,
        _data: Vec<u8>,
        producer: Producer,
        consumer: Consumer,
    }

    fn ring(capacity: usize) -> TestRing {
        let ctrl = control();
        let mut data = vec![0u8; capacity];
        // SAFETY: the vector outlives the ring halves inside `TestRing`.
        let bytes = unsafe { SharedBytes::new(data.as_mut_ptr(), capacity) };
        let c: *const RingControl = &*ctrl;
        // SAFETY: `ctrl` and `data` live as long as the struct; one of each half.
        let (producer, consumer) = unsafe { (Producer::new(c, bytes), Consumer::new(c, bytes)) };
        TestRing {
            ctrl,
            _data: data,
            producer,
            consumer,
        }
    }

    fn payload(seed: usize, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seed.wrapping_mul(31) ^ i.wrapping_mul(7)) as u8)
            .collect()
    }

    #[test]
    fn empty_ring_pops_nothing() {
        let mut r = ring(4096);
        let mut body = Vec::new();
        assert_eq!(r.consumer.pop(&mut body), Ok(None));
        assert!(!r.ctrl.looks_nonempty());
    }

    #[test]
    fn push_pop_round_trip() {
        let mut r = ring(4096);
        r.producer
            .try_push(Kind::SyncRequest, b"chan", b"hello", 77)
            .unwrap();
        assert!(r.ctrl.looks_nonempty());
        let mut body = Vec::new();
        let h = r.consumer.pop(&mut body).unwrap().unwrap();
        assert_eq!(
            (h.kind, h.channel_len, h.payload_len, h.call_id),
            (2, 4, 5, 77)
        );
        assert_eq!(body, b"chanhello");
        assert_eq!(r.consumer.pop(&mut body), Ok(None));
    }

    #[test]
    fn full_ring_refuses_then_accepts_after_pop() {
        let mut r = ring(4096);
        let p = vec![1u8; 1000];
        let mut pushed = 0;
        while r.producer.try_push(Kind::Message, b"c", &p, 0).is_ok() {
            pushed += 1;
        }
        assert_eq!(pushed, 4096 / record_len(1, 1000));
        assert_eq!(
            r.producer.try_push(Kind::Message, b"c", &p, 0),
            Err(PushError::Full {
                needed: record_len(1, 1000)
            })
        );
        let mut body = Vec::new();
        r.consumer.pop(&mut body).unwrap().unwrap();
        r.producer.try_push(Kind::Message, b"c", &p, 0).unwrap();
    }

    #[test]
    fn records_wrap_around_the_end() {
        let mut r = ring(4096);
        let mut body = Vec::new();
        // Odd sizes walk the start position through every alignment of the end.
        for i in 0..2000 {
            let p = payload(i, (i * 37) % 1500);
            r.producer
                .try_push(Kind::Message, b"wrap", &p, i as u64)
                .unwrap();
            let h = r.consumer.pop(&mut body).unwrap().unwrap();
            assert_eq!(h.call_id, i as u64);
            assert_eq!(&body[..4], b"wrap");
            assert_eq!(&body[4..], &p[..], "record {i}");
        }
    }

    #[test]
    fn every_record_size_up_to_capacity() {
        let cap = 4096;
        let mut r = ring(cap);
        let mut body = Vec::new();
        let max = r.producer.max_payload(1);
        assert_eq!(record_len(1, max), cap);
        for len in 0..=max {
            let p = payload(len, len);
            r.producer
                .try_push(Kind::Message, b"x", &p, len as u64)
                .unwrap();
            let h = r.consumer.pop(&mut body).unwrap().unwrap();
            assert_eq!(h.payload_len as usize, len);
            assert_eq!(&body[1..], &p[..]);
        }
        assert!(matches!(
            r.producer
                .try_push(Kind::Message, b"x", &vec![0; max + 1], 0),
            Err(PushError::TooLarge { .. })
        ));
    }

    #[test]
    fn many_records_in_flight_keep_order() {
        let mut r = ring(8192);
        let mut body = Vec::new();
        let mut next_pop = 0u64;
        for i in 0..10_000u64 {
            let p = i.to_le_bytes();
            while let Err(PushError::Full { .. }) = r.producer.try_push(Kind::Message, b"o", &p, i)
            {
                let h = r.consumer.pop(&mut body).unwrap().unwrap();
                assert_eq!(h.call_id, next_pop);
                assert_eq!(&body[1..], &next_pop.to_le_bytes());
                next_pop += 1;
            }
        }
        while let Some(h) = r.consumer.pop(&mut body).unwrap() {
            assert_eq!(h.call_id, next_pop);
            next_pop += 1;
        }
        assert_eq!(next_pop, 10_000);
    }

    #[test]
    fn consumer_rejects_impossible_tails() {
        let mut r = ring(4096);
        let mut body = Vec::new();
        r.ctrl.tail.0.store(4097, Ordering::Relaxed);
        assert!(matches!(
            r.consumer.pop(&mut body),
            Err(Violation::Position { what: "tail", .. })
        ));

        let mut r = ring(4096);
        r.producer.try_push(Kind::Message, b"c", b"1", 0).unwrap();
        r.consumer.pop(&mut body).unwrap().unwrap();
        r.ctrl.tail.0.store(0, Ordering::Relaxed); // moves backwards
        assert!(matches!(
            r.consumer.pop(&mut body),
            Err(Violation::Position { what: "tail", .. })
        ));

        let mut r = ring(4096);
        r.ctrl.tail.0.store(8, Ordering::Relaxed); // less than a header
        assert!(matches!(
            r.consumer.pop(&mut body),
            Err(Violation::Truncated { .. })
        ));
    }

    #[test]
    fn producer_rejects_impossible_heads() {
        let mut r = ring(4096);
        let p = vec![0u8; 2000];
        r.producer.try_push(Kind::Message, b"c", &p, 0).unwrap();
        r.producer.try_push(Kind::Message, b"c", &p, 0).unwrap();
        r.ctrl.head.0.store(1 << 40, Ordering::Relaxed); // ahead of tail
        assert!(matches!(
            r.producer.try_push(Kind::Message, b"c", &p, 0),
            Err(PushError::Violation(Violation::Position {
                what: "head",
                ..
            }))
        ));
    }

    #[test]
    fn garbage_header_is_rejected_not_followed() {
        let mut r = ring(4096);
        let mut body = Vec::new();
        r.producer
            .try_push(Kind::Message, b"c", &[0; 100], 0)
            .unwrap();
        // Overwrite the header with a huge payload length.
        let forged = RecordHeader {
            payload_len: u32::MAX,
            ..RecordHeader::new(Kind::Message, 1, 0, 0)
        };
        // SAFETY: test-only write at offset 0 of a 4096-byte buffer we own.
        unsafe { r.producer.data.write(0, bytemuck::bytes_of(&forged)) };
        assert!(matches!(
            r.consumer.pop(&mut body),
            Err(Violation::Truncated { .. })
        ));
    }
}
