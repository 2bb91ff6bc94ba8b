//! Entry points for the fuzz targets in `fuzz/`. Not part of the API: hidden
//! from the docs and free to change.
//!
//! Each takes bytes a hostile peer controls, lays them out as the ring it
//! would write, and runs the same decoding the real reader runs. Whatever
//! the bytes, they must return: no panic, no hang, no read out of bounds
//! (the fuzz build's sanitizer coverage and debug assertions watch for the
//! rest).

use crate::call_line::{ANSWER_ROOM, Answer, CallLine, LINE_BYTES, LineCaller, LineServer, Status};
use crate::renderer_side::inbox;
use crate::renderer_side::replies::Replies;
use crate::ring::{Consumer, HeapRing};
use crate::wire::fragment::{Fed, Reassembly};
use crate::wire::request::Request;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The smallest ring there is, so that short inputs reach wrap-around.
const CAPACITY: usize = crate::wire::layout::MIN_RING_CAPACITY;
/// The reassembly limit: small, so that inputs can reach it.
const FUZZ_MAX_MESSAGE: usize = 64 << 10;

/// The consumer of a ring whose data area holds `data` (zero-padded or cut
/// to the capacity); nobody produces.
fn consumer_over(data: &[u8]) -> Consumer {
    let (_, consumer) = HeapRing::new(CAPACITY, data).halves().expect("a new ring");
    consumer
}

/// Main's side: decodes `data` as a renderer's request ring the way the
/// dispatcher does (pop, validate, reassemble fragments, decode the request),
/// until the ring looks empty or a record is rejected. Returns how many
/// requests decoded.
pub fn request_ring(data: &[u8]) -> usize {
    let mut consumer = consumer_over(data);
    let mut reassembly = Reassembly::new(FUZZ_MAX_MESSAGE);
    let mut body = Vec::new();
    let mut decoded = 0;
    loop {
        // As `Slot::next`: a continuation goes straight into its message.
        let fed = consumer.pop_message(&mut reassembly, &mut body);
        let header = match fed {
            Ok(Some(Fed::Whole(h))) => h,
            Ok(Some(Fed::Partial | Fed::Aborted)) => continue,
            Ok(None) | Err(_) => break,
        };
        match Request::decode(&header, &body) {
            Ok(request) => {
                assert!(request.channel.len() + request.payload.len() == body.len());
                decoded += 1;
            }
            Err(_) => break,
        }
    }
    decoded
}

/// A renderer's side: decodes `data` as main's reply ring the way the
/// receiver thread does (drain into the inbox, then walk the inbox), until
/// the ring looks empty or a record is rejected. Returns how many messages
/// came out.
pub fn reply_ring(data: &[u8]) -> usize {
    let mut replies = Replies::new(consumer_over(data), Arc::default(), FUZZ_MAX_MESSAGE);
    let mut messages = 0;
    while let Ok(drained) = replies.drain_messages() {
        if !drained.consumed {
            break;
        }
        messages += inbox::entries(&replies.inbox).count();
        replies.inbox.clear();
    }
    messages
}

/// Both sides of the call line on lines a hostile peer wrote: each 64-byte
/// chunk of `data` (the last one zero-padded) is laid on the line in turn.
/// Main takes it as the dispatcher does (copy out, check the lengths, split,
/// check the channel as UTF-8) and answers with the request's payload, which
/// a renderer must then read back as it was sent; a renderer also reads each
/// chunk as an answer. Stops where main would disconnect. Returns how many
/// requests main took.
pub fn call_line(data: &[u8]) -> usize {
    let (line, words) = CallLine::on_heap();
    let mut server = LineServer::new(line.clone());
    let caller = LineCaller::new(line.clone());
    let mut out = Vec::new();
    let mut taken = 0;
    for chunk in data.chunks(LINE_BYTES) {
        let mut image = [0u8; LINE_BYTES];
        image[..chunk.len()].copy_from_slice(chunk);
        for (word, bytes) in words.iter().zip(image.chunks_exact(8)) {
            word.store(
                u64::from_le_bytes(bytes.try_into().expect("8")),
                Ordering::Relaxed,
            );
        }
        // A renderer reading whatever is on the line as an answer.
        let _ = caller.take(&mut out);
        match server.take() {
            Ok(Some(request)) => {
                let (channel, payload) = request.parts();
                if std::str::from_utf8(channel).is_err() {
                    break;
                }
                let answer = &payload[..payload.len().min(ANSWER_ROOM)];
                line.answer(request.seq, request.call_id, Status::Value, answer);
                assert!(caller.answered(request.seq.wrapping_add(1)));
                let read = caller.take(&mut out);
                assert_eq!(read, Ok(Answer::Here { failure: false }));
                assert_eq!(out, answer, "the answer as main wrote it");
                taken += 1;
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record as a renderer's producer lays it out at `pos`.
    fn record(pos: u64, kind: u8, channel: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&(pos + 1).to_le_bytes());
        r.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        r.push(kind);
        r.push(channel.len() as u8);
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&9u64.to_le_bytes());
        r.extend_from_slice(channel);
        r.extend_from_slice(payload);
        r.resize(r.len().next_multiple_of(8), 0);
        r
    }

    #[test]
    fn decodes_what_a_producer_writes_and_stops_at_garbage() {
        let mut ring = record(0, 1, b"chan", b"hello");
        let next = ring.len() as u64;
        ring.extend(record(next, 2, b"sync", b""));
        assert_eq!(request_ring(&ring), 2);
        // A renderer takes no requests from main: the batch is thrown away.
        assert_eq!(reply_ring(&ring), 0);
        let mut replies = record(0, 1, b"chan", b"hello");
        let next = replies.len() as u64;
        replies.extend(record(next, 3, b"", b"late reply"));
        assert_eq!(reply_ring(&replies), 1);
        assert_eq!(request_ring(&[0xFF; 64]), 0);
        assert_eq!(request_ring(&[]), 0);
    }

    /// One call line image: request `seq` of `channel` and `payload`.
    fn line(seq: u64, channel: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut l = seq.to_le_bytes().to_vec();
        l.extend_from_slice(&(1u64 << 63 | seq).to_le_bytes());
        l.extend_from_slice(&0u64.to_le_bytes());
        l.extend_from_slice(&[channel.len() as u8, payload.len() as u8]);
        l.extend_from_slice(channel);
        l.extend_from_slice(payload);
        l.resize(LINE_BYTES, 0);
        l
    }

    #[test]
    fn takes_requests_once_and_stops_at_a_lie() {
        let mut lines = line(1, b"echo", b"hi");
        lines.extend(line(1, b"echo", b"hi"));
        lines.extend(line(2, b"echo", b"even: an answer, not a request"));
        lines.extend(line(3, b"c", &[7; 37]));
        assert_eq!(
            call_line(&lines),
            2,
            "the repeat and the answer are not taken"
        );
        let mut lies = line(1, b"echo", b"");
        lies[25] = 40; // channel and payload past the line
        assert_eq!(call_line(&lies), 0);
        assert_eq!(call_line(&line(1, &[0xFF], b"")), 0, "not UTF-8");
        assert_eq!(call_line(&[0xFF; 200]), 0);
        assert_eq!(call_line(&[]), 0);
    }
}
