//! The ring's unit tests, on heap rings.

use super::*;
use std::sync::Arc;

struct TestRing {
    ring: Arc<HeapRing>,
    bytes: SharedBytes,
    producer: Producer,
    consumer: Consumer,
}

impl TestRing {
    fn ctrl(&self) -> &RingControl {
        self.ring.control()
    }
}

fn ring(capacity: usize) -> TestRing {
    let ring = HeapRing::new(capacity, &[]);
    let (producer, consumer) = ring.halves().unwrap();
    TestRing {
        bytes: ring.bytes(),
        ring,
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
    assert!(!r.consumer.has_next());
}

#[test]
fn push_pop_round_trip() {
    let mut r = ring(4096);
    r.producer
        .try_push(Kind::SyncRequest, b"chan", b"hello", 77)
        .unwrap();
    assert!(r.consumer.has_next());
    assert!(r.consumer.hint().ready());
    let mut body = Vec::new();
    let h = r.consumer.pop(&mut body).unwrap().unwrap();
    assert_eq!(
        (h.kind, h.channel_len, h.payload_len, h.tag, h.commit),
        (2, 4, 5, 77, 1)
    );
    assert_eq!(body, b"chanhello");
    assert_eq!(r.consumer.pop(&mut body), Ok(None));
    assert!(!r.consumer.hint().ready());
    assert_eq!(r.ctrl().head.0.load(Ordering::Relaxed), record_len(4, 5));
}

#[test]
fn a_scribbled_shared_head_misleads_no_one_into_a_bad_load() {
    let mut r = ring(4096);
    r.producer.try_push(Kind::Message, b"c", b"x", 0).unwrap();
    for garbage in [3, 4095, 4093, u64::MAX, u64::MAX - 2] {
        r.ctrl().head.0.store(garbage, Ordering::Relaxed);
        // The consumer goes by its own head; the hint by an aligned one.
        assert!(r.consumer.has_next());
        let _ = r.consumer.hint().ready();
    }
    let mut body = Vec::new();
    assert!(r.consumer.pop(&mut body).unwrap().is_some());
    assert_eq!(body, b"cx");
}

#[test]
fn pop_append_keeps_what_the_buffer_held() {
    let mut r = ring(4096);
    r.producer.try_push(Kind::Message, b"a", b"12", 0).unwrap();
    r.producer.try_push(Kind::Message, b"b", b"345", 0).unwrap();
    let mut buf = b"xy".to_vec();
    assert!(r.consumer.pop_append(&mut buf).unwrap().is_some());
    assert!(r.consumer.pop_append(&mut buf).unwrap().is_some());
    assert_eq!(r.consumer.pop_append(&mut buf), Ok(None));
    assert_eq!(buf, b"xya12b345");
}

#[test]
fn continuations_go_straight_into_their_message() {
    use crate::wire::record::{CONTINUES, MORE};
    let mut r = ring(4096);
    let mut reassembly = Reassembly::new(1 << 20);
    let mut body = Vec::new();
    let asked = std::cell::RefCell::new(Vec::new());
    let mut allow = |bytes: usize| {
        asked.borrow_mut().push(bytes);
        true
    };
    let p = &mut r.producer;
    p.try_push_flagged(Kind::SyncRequest, b"ch", b"abc", 9, MORE)
        .unwrap();
    p.try_push_flagged(Kind::SyncRequest, b"", b"defg", 9, CONTINUES | MORE)
        .unwrap();
    p.try_push_flagged(Kind::SyncRequest, b"", b"h", 9, CONTINUES)
        .unwrap();
    let h = r.consumer.pop(&mut body).unwrap().unwrap();
    assert_eq!(
        reassembly.feed_within(h, &mut body, &mut allow),
        Ok(Fed::Partial)
    );
    let fed = r
        .consumer
        .pop_continuation(&mut reassembly, &mut body, &mut allow);
    assert_eq!(fed, Ok(Some(Fed::Partial)));
    // What the message holds never passes what was last allowed.
    let last_allowed = *asked.borrow().last().expect("a growth was asked for");
    assert!(reassembly.held() <= last_allowed);
    let fed = r
        .consumer
        .pop_continuation(&mut reassembly, &mut body, &mut allow);
    let Ok(Some(Fed::Whole(whole))) = fed else {
        panic!("{fed:?}")
    };
    assert_eq!((whole.channel_len, whole.payload_len, whole.tag), (2, 8, 9));
    assert_eq!(body, b"chabcdefgh");
    r.producer
        .try_push_flagged(Kind::SyncRequest, b"", b"i", 9, CONTINUES)
        .unwrap();
    assert_eq!(
        r.consumer
            .pop_continuation(&mut reassembly, &mut body, &mut allow),
        Err(Violation::Fragment("a continuation without a start"))
    );
    // Every growth was asked for first.
    assert!(asked.borrow().iter().all(|&b| b >= 5));
}

/// A message on "ch" begun with a first fragment "abc", popped and fed:
/// the reassembly in progress, and the buffer its record came through.
fn message_begun(r: &mut TestRing) -> (Reassembly, Vec<u8>) {
    use crate::wire::record::MORE;
    let mut reassembly = Reassembly::new(1 << 20);
    let mut body = Vec::new();
    r.producer
        .try_push_flagged(Kind::Message, b"ch", b"abc", 0, MORE)
        .unwrap();
    let h = r.consumer.pop(&mut body).unwrap().unwrap();
    assert_eq!(reassembly.feed(h, &mut body), Ok(Fed::Partial));
    (reassembly, body)
}

#[test]
fn a_refused_continuation_copies_nothing_and_stays_in_the_ring() {
    use crate::wire::record::CONTINUES;
    let mut r = ring(4096);
    let (mut reassembly, mut body) = message_begun(&mut r);
    r.producer
        .try_push_flagged(Kind::Message, b"", &[7; 600], 0, CONTINUES)
        .unwrap();
    let held = reassembly.held();
    let fed = r
        .consumer
        .pop_continuation(&mut reassembly, &mut body, &mut |_| false);
    assert_eq!(fed, Err(Violation::Refused));
    assert_eq!(reassembly.held(), held, "nothing reserved");
    assert!(r.consumer.has_next(), "left in the ring");
    // Allowed now, the same record completes the message.
    let fed = r
        .consumer
        .pop_continuation(&mut reassembly, &mut body, &mut |_| true);
    assert!(matches!(fed, Ok(Some(Fed::Whole(_)))), "{fed:?}");
    assert_eq!(body.len(), 2 + 3 + 600);
}

#[test]
fn a_record_that_does_not_continue_the_message_stays_in_the_ring() {
    let mut r = ring(4096);
    let (mut reassembly, mut body) = message_begun(&mut r);
    r.producer
        .try_push(Kind::Message, b"other", b"x", 0)
        .unwrap();
    let fed = r
        .consumer
        .pop_continuation(&mut reassembly, &mut body, &mut |_| true);
    assert_eq!(
        fed,
        Err(Violation::Fragment("a new message inside a fragmented one"))
    );
    assert!(reassembly.in_progress());
    let h = r
        .consumer
        .pop(&mut body)
        .unwrap()
        .expect("left in the ring");
    assert_eq!((h.channel_len, &body[..]), (5, &b"otherx"[..]));
}

#[test]
fn full_ring_refuses_then_accepts_after_pop() {
    let mut r = ring(4096);
    let p = vec![1u8; 1000];
    let mut pushed = 0;
    while r.producer.try_push(Kind::Message, b"c", &p, 0).is_ok() {
        pushed += 1;
    }
    let len = record_len(1, 1000) as usize;
    assert_eq!(pushed, (4096 - COMMIT_LEN) / len);
    assert_eq!(
        r.producer.try_push(Kind::Message, b"c", &p, 0),
        Err(PushError::Full {
            needed: len + COMMIT_LEN
        })
    );
    assert_eq!(r.producer.has_room((len + COMMIT_LEN) as u64), Ok(false));
    let mut body = Vec::new();
    r.consumer.pop(&mut body).unwrap().unwrap();
    assert_eq!(r.producer.has_room((len + COMMIT_LEN) as u64), Ok(true));
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
        assert_eq!(h.tag, i as u64);
        assert_eq!(&body[..4], b"wrap");
        assert_eq!(&body[4..], &p[..], "record {i}");
    }
}

#[test]
fn big_payloads_written_streaming_arrive_whole() {
    // A ring small enough for non-temporal stores, and one too big.
    assert!(ring(STREAMING_RING_MAX).producer.streams_big);
    assert!(!ring(2 * STREAMING_RING_MAX).producer.streams_big);
    let cap = 128 << 10;
    let mut r = ring(cap);
    let mut body = Vec::new();
    // Channels of 1 to 8 bytes and odd lengths start the payload at many
    // alignments within a line; records of about a third of the ring wrap
    // its end at many offsets. (`sync.rs` tests the streaming copy itself
    // at every alignment and short length.)
    for i in 0..64 {
        let channel = &b"channels"[..1 + i % 8];
        let len = STREAM_AT_LEAST + (i * 1237) % 9000;
        let p = payload(i, len);
        r.producer
            .try_push(Kind::Message, channel, &p, i as u64)
            .unwrap();
        let h = r.consumer.pop(&mut body).unwrap().unwrap();
        assert_eq!(h.tag, i as u64);
        assert_eq!(&body[..channel.len()], channel);
        assert!(
            body[channel.len()..] == p[..],
            "record {i} came out different"
        );
    }
}

#[test]
fn every_record_size_up_to_capacity() {
    let cap = 4096;
    let mut r = ring(cap);
    let mut body = Vec::new();
    let max = r.producer.max_payload(1);
    assert_eq!(record_len(1, max as u64) as usize, cap - COMMIT_LEN);
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
        while let Err(PushError::Full { .. }) = r.producer.try_push(Kind::Message, b"o", &p, i) {
            let h = r.consumer.pop(&mut body).unwrap().unwrap();
            assert_eq!(h.tag, next_pop);
            assert_eq!(&body[1..], &next_pop.to_le_bytes());
            next_pop += 1;
        }
    }
    while let Some(h) = r.consumer.pop(&mut body).unwrap() {
        assert_eq!(h.tag, next_pop);
        next_pop += 1;
    }
    assert_eq!(next_pop, 10_000);
}

#[test]
fn stale_bytes_from_earlier_laps_never_look_committed() {
    // Payloads full of what would be valid commit words for later positions.
    let mut r = ring(4096);
    let mut body = Vec::new();
    for i in 0..500u64 {
        let p: Vec<u8> = (0..64u64)
            .flat_map(|k| (i * 72 + k * 8 + 1).to_le_bytes())
            .collect();
        r.producer.try_push(Kind::Message, b"s", &p, i).unwrap();
        let h = r.consumer.pop(&mut body).unwrap().unwrap();
        assert_eq!(h.tag, i);
        assert!(
            !r.consumer.has_next(),
            "record {i}: leftover bytes read as a commit"
        );
    }
}

#[test]
fn garbage_commit_words_read_as_empty() {
    let mut r = ring(4096);
    let mut body = Vec::new();
    for garbage in [0, 2, u64::MAX, 4097] {
        // SAFETY: test-only write of the first word of an 8-aligned buffer we own.
        unsafe { r.bytes.store_word(0, garbage, Ordering::Relaxed) };
        assert_eq!(r.consumer.pop(&mut body), Ok(None));
    }
}

#[test]
fn forged_headers_are_rejected_not_followed() {
    let mut r = ring(4096);
    let mut body = Vec::new();
    let forged = RecordHeader {
        commit: 1,
        payload_len: u32::MAX,
        ..RecordHeader::new(Kind::Message, 1, 0, 0)
    };
    // SAFETY: test-only write at offset 0 of a 4096-byte buffer we own.
    unsafe { r.bytes.write(0, bytemuck::bytes_of(&forged)) };
    assert!(matches!(
        r.consumer.pop(&mut body),
        Err(Violation::TooLong { .. })
    ));

    let mut r = ring(4096);
    let forged = RecordHeader {
        commit: 1,
        kind: 200,
        ..RecordHeader::new(Kind::Message, 1, 0, 0)
    };
    // SAFETY: as above.
    unsafe { r.bytes.write(0, bytemuck::bytes_of(&forged)) };
    assert_eq!(r.consumer.pop(&mut body), Err(Violation::UnknownKind(200)));
}

#[test]
fn producer_rejects_impossible_heads() {
    let mut r = ring(4096);
    let p = vec![0u8; 2000];
    r.producer.try_push(Kind::Message, b"c", &p, 0).unwrap();
    r.producer.try_push(Kind::Message, b"c", &p, 0).unwrap();
    r.ctrl().head.0.store(1 << 40, Ordering::Relaxed); // ahead of tail
    assert!(matches!(
        r.producer.try_push(Kind::Message, b"c", &p, 0),
        Err(PushError::Violation(Violation::Position {
            what: "head",
            ..
        }))
    ));
}
