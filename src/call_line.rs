//! The call line: one cache line per renderer on which a small `send_sync`
//! travels, the request one way and its answer back, instead of a record in
//! each ring.
//!
//! Why: a round trip through the two rings moves at least two cache lines
//! each way (the writer takes the line its reader polls, then the reader
//! fetches it), which costs more than twice a one-line ping-pong on the
//! same cores (`benches/compare`'s layout floor). On one line both sides
//! write where the other already looks.
//!
//! Format (offsets in the 64-byte line; integers little-endian):
//! - `0..8` the sequence word, stored last by each side: odd when the
//!   renderer published request `seq`, `seq + 1` once main answered it.
//! - request: `8..16` call id, `16..24` the request ring position before
//!   which every record the renderer pushed earlier lies, `24` channel
//!   length, `25` payload length, `26..` channel then payload
//!   ([`REQUEST_ROOM`] bytes in all).
//! - answer: `8..16` the call id answered, `16` [`Status`], `17` length,
//!   `26..` the value or an encoded failure ([`ANSWER_ROOM`] bytes).
//!
//! Notes about memory ordering (the only two happens-before edges):
//! - `request`: the renderer writes the request bytes, then stores the odd
//!   sequence with Release; main loads it with Acquire before copying out.
//! - `answer`: main writes the answer bytes, then stores `seq + 1` with
//!   Release; the renderer loads it with Acquire before copying out.
//!
//! Main treats every byte as hostile: it copies the line out and validates
//! the copy. One renderer thread uses the line at a time; the others, and
//! requests that do not fit, take the rings.

use crate::sync::{Backing, Ordering, SharedBytes};
use crate::wire::record::Violation;
use std::mem::MaybeUninit;

/// Bytes of the line.
pub(crate) const LINE_BYTES: usize = 64;
const SEQ: usize = 0;
const CALL: usize = 8;
const POS: usize = 16;
const STATUS: usize = 16;
const LENS: usize = 24;
const ANSWER_LEN: usize = 17;
const DATA: usize = 26;
/// Most channel and payload bytes a request on the line may carry.
pub(crate) const REQUEST_ROOM: usize = LINE_BYTES - DATA;
/// Most answer bytes the line carries; a longer answer takes the reply ring.
pub(crate) const ANSWER_ROOM: usize = LINE_BYTES - DATA;
/// The top bit of every call id on the line.
const LINE_CALL_IDS: u64 = 1 << 63;

/// How main answered a request on the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    /// The value is on the line.
    Value = 1,
    /// An encoded failure (`wire::failure`) is on the line.
    Failure = 2,
    /// The answer, value or failure, comes through the reply ring as the
    /// reply to the call id.
    InRing = 3,
}

/// One side's handle on a segment's call line.
#[derive(Clone)]
pub(crate) struct CallLine {
    bytes: SharedBytes,
    _backing: Backing,
}

// SAFETY: an address into memory `_backing` keeps alive, touched only through
// `SharedBytes`' atomic words and raw copies, as the protocol above says.
unsafe impl Send for CallLine {}
// SAFETY: as for `Send`.
unsafe impl Sync for CallLine {}

impl CallLine {
    /// # Safety
    /// `bytes` must be [`LINE_BYTES`] long, 8-aligned, and stay valid while
    /// `backing` lives.
    pub unsafe fn new(bytes: SharedBytes, backing: Backing) -> CallLine {
        debug_assert_eq!(bytes.len(), LINE_BYTES);
        CallLine {
            bytes,
            _backing: backing,
        }
    }

    #[inline]
    fn seq(&self, order: Ordering) -> u64 {
        // SAFETY: offset 0 of a line of LINE_BYTES, 8-aligned.
        unsafe { self.bytes.load_word(SEQ, order) }
    }

    #[inline]
    fn publish(&self, seq: u64) {
        // SYNC(request, answer): Release → Acquire in `LineServer::take`
        // (a request), in `LineCaller::answered` (an answer).
        // SAFETY: as in `seq`.
        unsafe { self.bytes.store_word(SEQ, seq, Ordering::Release) }
    }

    #[inline]
    fn put(&self, at: usize, bytes: &[u8]) {
        debug_assert!(at + bytes.len() <= LINE_BYTES);
        // SAFETY: in bounds (every caller checks lengths against the room);
        // the protocol gives these bytes to the writer until it publishes.
        unsafe { self.bytes.write(at, bytes) };
    }

    /// Copies the whole line out; the sequence word is read separately.
    #[inline]
    fn copy_out(&self) -> [u8; LINE_BYTES] {
        let mut raw = [MaybeUninit::<u8>::uninit(); LINE_BYTES];
        // SAFETY: the whole line, in bounds.
        unsafe { self.bytes.read(0, &mut raw) };
        // SAFETY: `read` initialised every byte.
        unsafe { std::mem::transmute::<[MaybeUninit<u8>; LINE_BYTES], [u8; LINE_BYTES]>(raw) }
    }
}

/// The words of a line kept in process memory (see [`CallLine::on_heap`]).
#[cfg(not(loom))]
pub(crate) type HeapWords = std::sync::Arc<[std::sync::atomic::AtomicU64; LINE_BYTES / 8]>;

#[cfg(not(loom))]
impl CallLine {
    /// A line in process memory, zeroed, for tests and the fuzz target; its
    /// words are atomics, so that tests may write them as a peer would.
    pub fn on_heap() -> (CallLine, HeapWords) {
        let words: HeapWords = std::sync::Arc::new(Default::default());
        let backing: Backing = words.clone();
        // SAFETY: LINE_BYTES of atomics, 8-aligned, kept alive by `backing`.
        let bytes = unsafe { SharedBytes::new(words.as_ptr() as *mut u8, LINE_BYTES) };
        // SAFETY: as above.
        (unsafe { CallLine::new(bytes, backing) }, words)
    }
}

fn word(line: &[u8; LINE_BYTES], at: usize) -> u64 {
    u64::from_le_bytes(line[at..at + 8].try_into().expect("8 bytes"))
}

/// The renderer's side: publishes requests, reads answers. Its owner lets
/// one thread at a time use it.
pub(crate) struct LineCaller {
    line: CallLine,
    /// The next request's (odd) sequence number.
    next: u64,
}

/// An answer the renderer read off the line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The value (or, with `failure`, an encoded failure) is in `out`.
    Here { failure: bool },
    /// The answer comes through the reply ring.
    InRing,
}

impl LineCaller {
    pub fn new(line: CallLine) -> LineCaller {
        LineCaller { line, next: 1 }
    }

    /// Whether a request of `channel_len + payload_len` bytes fits the line.
    pub fn fits(channel_len: usize, payload_len: usize) -> bool {
        channel_len + payload_len <= REQUEST_ROOM
    }

    /// The call id of the next request: its sequence number with the top bit
    /// set, apart from the ids the renderer counts up from 1 for calls
    /// through the rings, and taken without an atomic read-modify-write.
    pub fn next_call_id(&self) -> u64 {
        LINE_CALL_IDS | self.next
    }

    /// Publishes a request that [`Self::fits`], as call
    /// [`Self::next_call_id`]; returns the sequence number its answer will
    /// carry.
    pub fn publish(&mut self, pos: u64, channel: &[u8], payload: &[u8]) -> u64 {
        debug_assert!(Self::fits(channel.len(), payload.len()));
        let call_id = self.next_call_id();
        let seq = self.next;
        self.next += 2;
        let line = &self.line;
        line.put(CALL, &call_id.to_le_bytes());
        line.put(POS, &pos.to_le_bytes());
        line.put(LENS, &[channel.len() as u8, payload.len() as u8]);
        line.put(DATA, channel);
        line.put(DATA + channel.len(), payload);
        // SYNC(request): Release → Acquire in `LineServer::take`.
        line.publish(seq);
        seq + 1
    }

    /// Whether the answer carrying `awaited` has arrived.
    #[inline]
    pub fn answered(&self, awaited: u64) -> bool {
        // SYNC(answer): Acquire ← Release in `CallLine::answer`.
        self.line.seq(Ordering::Acquire) == awaited
    }

    /// Reads the answer [`Self::answered`] saw into `out`. Main's bytes:
    /// trusted as a reply from the ring is, but still checked.
    pub fn take(&self, out: &mut Vec<u8>) -> Result<Answer, Violation> {
        let line = self.line.copy_out();
        let len = line[ANSWER_LEN] as usize;
        if len > ANSWER_ROOM {
            return Err(Violation::CallLine("answer longer than the line"));
        }
        out.clear();
        let failure = match line[STATUS] {
            s if s == Status::Value as u8 => false,
            s if s == Status::Failure as u8 => true,
            s if s == Status::InRing as u8 => return Ok(Answer::InRing),
            _ => return Err(Violation::CallLine("unknown answer status")),
        };
        out.extend_from_slice(&line[DATA..DATA + len]);
        Ok(Answer::Here { failure })
    }
}

/// A request main copied off the line and checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineRequest {
    pub seq: u64,
    pub call_id: u64,
    /// Handle it only once the request ring's consumer is at or past here.
    pub pos: u64,
    line: [u8; LINE_BYTES],
}

impl LineRequest {
    /// The channel's bytes (not yet checked as UTF-8) and the payload.
    pub fn parts(&self) -> (&[u8], &[u8]) {
        let (c, p) = (self.line[LENS] as usize, self.line[LENS + 1] as usize);
        let channel = &self.line[DATA..DATA + c];
        (channel, &self.line[DATA + c..DATA + c + p])
    }
}

/// Main's side: takes each request once and answers it.
pub(crate) struct LineServer {
    line: CallLine,
    /// The last request taken, so that one is not taken twice.
    taken: u64,
}

impl LineServer {
    pub fn new(line: CallLine) -> LineServer {
        LineServer { line, taken: 0 }
    }

    /// A request published and not taken yet, copied out and checked;
    /// `Ok(None)` if there is none. One load of one cache line when idle.
    #[inline]
    pub fn take(&mut self) -> Result<Option<LineRequest>, Violation> {
        // SYNC(request): Acquire ← Release in `LineCaller::publish`.
        let seq = self.line.seq(Ordering::Acquire);
        if seq % 2 == 0 || seq == self.taken {
            return Ok(None);
        }
        self.taken = seq;
        let line = self.line.copy_out();
        let (c, p) = (line[LENS] as usize, line[LENS + 1] as usize);
        if c + p > REQUEST_ROOM {
            return Err(Violation::CallLine("request longer than the line"));
        }
        Ok(Some(LineRequest {
            seq,
            call_id: word(&line, CALL),
            pos: word(&line, POS),
            line,
        }))
    }

    /// Whether a request waits that [`Self::take`] has not taken: for the
    /// dispatcher's last look before it sleeps.
    pub fn has_request(&self) -> bool {
        // SYNC(request): Acquire ← Release in `LineCaller::publish` (a hint:
        // `take` loads it again).
        let seq = self.line.seq(Ordering::Acquire);
        seq % 2 == 1 && seq != self.taken
    }
}

impl CallLine {
    /// Main: answers request `seq` (of call `call_id`) with `status` and
    /// `bytes` (at most [`ANSWER_ROOM`]). Only one thread answers a
    /// request, and main takes no new request from the line before it has
    /// (see `Connection::line_owed`).
    pub fn answer(&self, seq: u64, call_id: u64, status: Status, bytes: &[u8]) {
        debug_assert!(bytes.len() <= ANSWER_ROOM);
        self.put(CALL, &call_id.to_le_bytes());
        self.put(STATUS, &[status as u8, bytes.len() as u8]);
        self.put(DATA, bytes);
        // SYNC(answer): Release → Acquire in `LineCaller::answered`.
        self.publish(seq.wrapping_add(1));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    type Words = HeapWords;

    /// A line in process memory, as both sides see it.
    fn line_pair() -> (LineCaller, LineServer, CallLine, Words) {
        let (line, words) = CallLine::on_heap();
        (
            LineCaller::new(line.clone()),
            LineServer::new(line.clone()),
            line,
            words,
        )
    }

    #[test]
    fn a_request_is_taken_once_and_answered() {
        let (mut caller, mut server, answers, _keep) = line_pair();
        assert_eq!(server.take(), Ok(None));
        let id = caller.next_call_id();
        assert_eq!(id, 1 << 63 | 1, "apart from the ids counted from 1");
        let awaited = caller.publish(96, b"echo", &[1, 2, 3]);
        assert!(server.has_request());
        let r = server.take().unwrap().unwrap();
        assert_eq!(
            (r.call_id, r.pos, r.parts()),
            (id, 96, (&b"echo"[..], &[1, 2, 3][..]))
        );
        assert_eq!(server.take(), Ok(None), "taken once");
        assert!(!server.has_request());
        assert!(!caller.answered(awaited));
        answers.answer(r.seq, id, Status::Value, &[9; ANSWER_ROOM]);
        assert!(caller.answered(awaited));
        let mut out = Vec::new();
        assert_eq!(caller.take(&mut out), Ok(Answer::Here { failure: false }));
        assert_eq!(out, [9; ANSWER_ROOM]);
        // The next request and a failure; then one answered through the ring.
        let awaited = caller.publish(200, b"c", &[0; REQUEST_ROOM - 1]);
        let r = server.take().unwrap().unwrap();
        assert_eq!(r.parts().1.len(), REQUEST_ROOM - 1);
        answers.answer(r.seq, r.call_id, Status::Failure, b"\x02");
        assert!(caller.answered(awaited));
        assert_eq!(caller.take(&mut out), Ok(Answer::Here { failure: true }));
        assert_eq!(out, b"\x02");
        let awaited = caller.publish(200, b"c", b"");
        let r = server.take().unwrap().unwrap();
        answers.answer(r.seq, r.call_id, Status::InRing, &[]);
        assert!(caller.answered(awaited));
        assert_eq!(caller.take(&mut out), Ok(Answer::InRing));
    }

    #[test]
    fn main_refuses_a_scribbled_line() {
        let (_caller, mut server, _answers, words) = line_pair();
        let ptr = words.as_ptr() as *mut u8;
        // A hostile renderer: lengths past the line, then an odd sequence.
        // SAFETY: the test's own 64 bytes; nothing else runs.
        unsafe { ptr.wrapping_add(LENS).write_bytes(30, 2) };
        // SAFETY: as above; the base is 8-aligned.
        unsafe { ptr.cast::<u64>().write(5) };
        assert!(server.has_request());
        assert!(server.take().is_err());
        assert_eq!(
            server.take(),
            Ok(None),
            "the bad request is not taken again"
        );
    }
}
