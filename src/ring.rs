//! A single-producer/single-consumer ring of variable-length records over a
//! shared control block and data area.
//!
//! Each side keeps its own position as the authoritative copy and only *reads*
//! the peer's position, validating it, so a peer that scribbles over the control
//! block can make the ring look full, empty or corrupt, but cannot make this side
//! touch memory outside the data area.
//!
//! Records announce themselves: the first word of each record, its commit word,
//! is stored last and equals the record's position plus one (see
//! [`RecordHeader::commit`]). A small record is therefore one cache line for the
//! consumer to pull, with no separate `tail` line.
//!
//! Notes about memory ordering (the only two happens-before edges):
//! - `commit`: the producer writes the record's other bytes (and zeroes the next
//!   record's commit word), then stores the commit word with Release; the
//!   consumer loads it with Acquire before copying the record out. A big
//!   payload's non-temporal stores ([`STREAMING_RING_MAX`]) are ordered
//!   before that Release by the `sfence` that ends
//!   [`SharedBytes::write_streaming`].
//! - `head`: the consumer copies bytes out, then stores `head` with Release; the
//!   producer loads `head` with Acquire before overwriting the freed bytes.

use crate::sync::{Backing, Ordering, SharedBytes};
use crate::wire::fragment::{Fed, Reassembly};
use crate::wire::layout::RingControl;
use crate::wire::record::{
    COMMIT_LEN, CONTINUES, HEADER_LEN, Kind, MORE, RECORD_ALIGN, RecordHeader, Violation,
    record_len,
};
use std::mem::MaybeUninit;

/// Why a push did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// Not enough free space right now; `needed` bytes of ring are required.
    Full { needed: usize },
    /// The record can never fit: it is longer than the ring allows.
    TooLarge { len: usize, capacity: usize },
    /// The consumer published an impossible `head`.
    Violation(Violation),
}

/// Producer half.
pub(crate) struct Producer {
    ctrl: *const RingControl,
    data: SharedBytes,
    _backing: Backing,
    capacity: u64,
    /// Position where the next record goes. Private: the consumer learns of
    /// records from their commit words.
    tail: u64,
    /// Last `head` read from the consumer; in `tail - capacity ..= tail`.
    head_cache: u64,
    /// Big payloads go in with non-temporal stores ([`STREAMING_RING_MAX`]).
    streams_big: bool,
}

/// Consumer half. Owns `head`.
pub(crate) struct Consumer {
    ctrl: *const RingControl,
    data: SharedBytes,
    backing: Backing,
    capacity: u64,
    /// Authoritative head; the shared one is only ever written from this.
    head: u64,
}

// SAFETY: the halves hold addresses into memory that their `Backing` keeps alive;
// each half is used by one thread at a time (`&mut self`), and the shared state is
// atomics plus bytes whose ownership the protocol hands back and forth.
unsafe impl Send for Producer {}
// SAFETY: see `Send for Producer`.
unsafe impl Send for Consumer {}

/// Rings at most this long get their big payloads written with
/// non-temporal stores ([`SharedBytes::write_streaming`]). The producer
/// laps such a ring soon enough that the consumer's core still holds the
/// lines it read there, and a plain store must take each line back from it
/// first: measured on a 2-vCPU AMD VM (1 MiB of L2 per core), 7–9 µs to
/// write 64 KiB that way against 2 µs streaming (the reader then fetches
/// from memory, 4–5 µs instead of 1.5). A scratch program (a forked writer
/// and reader, 1 MiB messages in 64 KiB pieces, no protocol) streamed,
/// plain against streaming: 1.9–7.1 against 15–19 GB/s through a 256 KiB
/// ring, 13 against 17–19 through 512 KiB; but 25–33 against 13–17
/// through 1 MiB and 31–34 against 13–16 through 2 MiB, whose lines have
/// left the reader's private cache by the next lap. So the cut-off sits
/// below the size of a core's L2 here; a core with a larger L2 may gain
/// from streaming into larger rings too (not measured). Main may turn it
/// off for both sides (`Config::streaming_stores`, [`Producer::never_stream`]).
const STREAMING_RING_MAX: usize = 512 << 10;

/// The smallest payload written with non-temporal stores: below it, plain
/// stores measured as fast or faster (16 KiB: 2.6 against 2.8 µs from the
/// start of the write to the end of the reader's copy; 32 KiB: 4.7 against
/// 3.8 µs).
const STREAM_AT_LEAST: usize = 32 << 10;

/// The same for a fragment of a longer message, which the reader copies out
/// while the writer writes the next: 64 KiB one way in 16 KiB pieces took
/// 5.1–5.3 µs streaming against 8.0–10.5 µs plain (two runs).
const STREAM_PIECE_AT_LEAST: usize = 16 << 10;

/// Copies `src` into the ring at byte position `pos`, wrapping at the end;
/// with non-temporal stores if `streaming`.
///
/// # Safety
/// `src.len() <= data.len()`, and the range is free according to the protocol.
unsafe fn write_wrapping(data: &SharedBytes, pos: u64, src: &[u8], streaming: bool) {
    let start = data.offset_of(pos);
    let first = src.len().min(data.len() - start);
    let (a, b) = src.split_at(first);
    // `start + first <= len`, free by the caller's guarantee; the rest
    // starts at 0 and is shorter than the ring. (An empty rest would cost a
    // streaming write its fence for nothing.)
    for (at, part) in [(start, a), (0, b)] {
        if part.is_empty() {
            continue;
        }
        if streaming {
            // SAFETY: in bounds and free (above).
            unsafe { data.write_streaming(at, part) };
        } else {
            // SAFETY: in bounds and free (above).
            unsafe { data.write(at, part) };
        }
    }
}

/// Copies `dst.len()` bytes from ring position `pos`, wrapping at the end.
///
/// # Safety
/// `dst.len() <= data.len()`.
unsafe fn read_wrapping(data: &SharedBytes, pos: u64, dst: &mut [MaybeUninit<u8>]) {
    let start = data.offset_of(pos);
    let first = dst.len().min(data.len() - start);
    let (a, b) = dst.split_at_mut(first);
    // SAFETY: `start + first <= len`.
    unsafe { data.read(start, a) };
    // SAFETY: the rest starts at 0 and is shorter than the ring.
    unsafe { data.read(0, b) };
}

impl Producer {
    /// # Safety
    /// `ctrl` and `data` must lie inside `backing`, and no other producer may
    /// exist for this ring. The ring must be fresh (all zero), its length a
    /// power of two of at least 64, and its base 8-aligned.
    pub unsafe fn new(ctrl: *const RingControl, data: SharedBytes, backing: Backing) -> Self {
        Producer {
            ctrl,
            data,
            _backing: backing,
            capacity: data.len() as u64,
            tail: 0,
            head_cache: 0,
            streams_big: data.len() <= STREAMING_RING_MAX,
        }
    }

    fn ctrl(&self) -> &RingControl {
        // SAFETY: valid by the constructor's contract; it holds only atomics.
        unsafe { &*self.ctrl }
    }

    /// Longest record this ring takes: the whole ring but the next record's
    /// commit word, which must stay free to be zeroed.
    fn max_record(&self) -> u64 {
        self.capacity - COMMIT_LEN as u64
    }

    /// Largest payload a record with a channel of `channel_len` bytes can carry.
    pub fn max_payload(&self, channel_len: usize) -> usize {
        // `max_record` is a multiple of the alignment, so padding never pushes a
        // record of this payload over it.
        (self.max_record() - HEADER_LEN as u64 - channel_len as u64) as usize
    }

    /// Bytes free for writing, re-reading the consumer's `head` only when the
    /// cached value says fewer than `wanted` are free.
    fn free(&mut self, wanted: u64) -> Result<u64, Violation> {
        let free = self.capacity - (self.tail - self.head_cache);
        if free >= wanted {
            return Ok(free);
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
        Ok(self.capacity - (self.tail - head))
    }

    /// Where the next record goes: every record pushed so far lies before it.
    pub fn position(&self) -> u64 {
        self.tail
    }

    /// Bytes the ring holds in all.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Bytes free for writing right now (re-reads the consumer's `head`).
    pub fn free_now(&mut self) -> Result<u64, Violation> {
        self.free(u64::MAX)
    }

    /// Whether a push that found the ring [`PushError::Full`] would fit now.
    pub fn has_room(&mut self, needed: u64) -> Result<bool, Violation> {
        Ok(self.free(needed)? >= needed)
    }

    /// Appends one record made of a header, channel bytes and payload, and
    /// publishes it.
    #[cfg(test)]
    pub fn try_push(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        tag: u64,
    ) -> Result<(), PushError> {
        self.try_push_flagged(kind, channel, payload, tag, 0)
    }

    /// [`Self::try_push`] of one fragment (see `fragment.rs`), with its flags.
    pub fn try_push_flagged(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        tag: u64,
        flags: u16,
    ) -> Result<(), PushError> {
        let len = record_len(channel.len() as u64, payload.len() as u64);
        if len > self.max_record() || channel.len() > u8::MAX as usize {
            return Err(PushError::TooLarge {
                len: len as usize,
                capacity: self.capacity as usize,
            });
        }
        let needed = len + COMMIT_LEN as u64;
        if self.free(needed).map_err(PushError::Violation)? < needed {
            return Err(PushError::Full {
                needed: needed as usize,
            });
        }
        let header = RecordHeader::new(kind, channel.len(), payload.len(), tag).with_flags(flags);
        let rest_of_header = &bytemuck::bytes_of(&header)[COMMIT_LEN..];
        let mut pos = self.tail + COMMIT_LEN as u64;
        let least = match flags & (MORE | CONTINUES) {
            0 => STREAM_AT_LEAST,
            _ => STREAM_PIECE_AT_LEAST,
        };
        let streaming = self.streams_big && payload.len() >= least;
        for (part, streaming) in [
            (rest_of_header, false),
            (channel, false),
            (payload, streaming),
        ] {
            // SAFETY: the record fits in the free space checked above, so every
            // part lies in bytes the consumer has released.
            unsafe { write_wrapping(&self.data, pos, part, streaming) };
            pos += part.len() as u64;
        }
        let next = self.tail + len;
        // SAFETY: `needed` bytes are free, so the next commit word is ours; both
        // positions are 8-aligned and the capacity is a multiple of 8, so a
        // commit word never wraps.
        unsafe { self.data.store_word(self.slot(next), 0, Ordering::Relaxed) };
        // SAFETY: as above, for this record's own commit word.
        // SYNC(commit): Release → Acquire in `Consumer::pop`; publishes the
        // record and the zeroed next commit word.
        unsafe {
            self.data
                .store_word(self.slot(self.tail), self.tail + 1, Ordering::Release)
        };
        self.tail = next;
        Ok(())
    }

    fn slot(&self, pos: u64) -> usize {
        self.data.offset_of(pos)
    }

    /// Writes every payload with plain stores, whatever the ring's size
    /// (`Config::streaming_stores(false)`).
    pub fn never_stream(&mut self) {
        self.streams_big = false;
    }

    /// Whether big payloads go in with non-temporal stores.
    #[cfg(all(test, not(loom)))]
    pub fn streams_big(&self) -> bool {
        self.streams_big
    }
}

impl Consumer {
    /// # Safety
    /// As for [`Producer::new`], for the consumer side.
    pub unsafe fn new(ctrl: *const RingControl, data: SharedBytes, backing: Backing) -> Self {
        Consumer {
            ctrl,
            data,
            backing,
            capacity: data.len() as u64,
            head: 0,
        }
    }

    fn ctrl(&self) -> &RingControl {
        // SAFETY: valid by the constructor's contract; it holds only atomics.
        unsafe { &*self.ctrl }
    }

    /// Whether the record at `head` is committed. One load of one cache line.
    ///
    /// Uses this side's own `head`, never the shared copy: on main's side the
    /// shared copy lies in renderer-writable memory.
    pub fn has_next(&self) -> bool {
        let at = self.data.offset_of(self.head);
        // SYNC(commit): Acquire ← Release in `Producer::try_push` (a hint: `pop`
        // loads it again).
        // SAFETY: our `head` is 8-aligned (record lengths are), so the word is
        // whole and in bounds.
        unsafe { self.data.load_word(at, Ordering::Acquire) == self.head + 1 }
    }

    /// Our position: every record before it has been copied out.
    pub fn position(&self) -> u64 {
        self.head
    }

    /// A lock-free view that answers [`Self::has_next`] for other threads.
    pub fn hint(&self) -> ReadyHint {
        ReadyHint {
            ctrl: self.ctrl,
            data: self.data,
            _backing: self.backing.clone(),
        }
    }

    /// Copies the next record out of the ring, validates it, and releases its
    /// bytes to the producer. `body` receives the channel followed by the payload.
    pub fn pop(&mut self, body: &mut Vec<u8>) -> Result<Option<RecordHeader>, Violation> {
        body.clear();
        self.pop_append(body)
    }

    /// [`Self::pop`] appending the channel and payload to what `buf` holds.
    #[inline]
    pub fn pop_append(&mut self, buf: &mut Vec<u8>) -> Result<Option<RecordHeader>, Violation> {
        self.pop_append_to(|_| Ok(buf))
    }

    /// The next record of the message `reassembly` has in progress, copied
    /// straight into that message (once, not into a buffer and then again),
    /// after its header was checked and room made as `allow` permits. A
    /// record that does not continue the message is left in the ring, and
    /// reported as the violation it is.
    pub fn pop_continuation(
        &mut self,
        reassembly: &mut Reassembly,
        body: &mut Vec<u8>,
        allow: &mut impl FnMut(usize) -> bool,
    ) -> Result<Option<Fed>, Violation> {
        let popped =
            self.pop_append_to(|h| reassembly.admit_continuation(h, h.body_len(), &mut *allow))?;
        Ok(popped.map(|h| reassembly.finish_continuation(h, body)))
    }

    /// The next record, through `reassembly`: a whole message into `body`;
    /// a fragment into the message in progress (a continuation straight
    /// from the ring, as [`Self::pop_continuation`]); `None` when the ring
    /// holds no record. For readers without a memory charge (`allow`
    /// approves everything up to the reassembly's length limit).
    pub fn pop_message(
        &mut self,
        reassembly: &mut Reassembly,
        body: &mut Vec<u8>,
    ) -> Result<Option<Fed>, Violation> {
        if reassembly.in_progress() {
            return self.pop_continuation(reassembly, body, &mut |_| true);
        }
        match self.pop(body)? {
            Some(h) => reassembly.feed(h, body).map(Some),
            None => Ok(None),
        }
    }

    /// [`Self::pop_append`] to the buffer `admit` picks, with room made, once
    /// it has seen the record's (validated) header; a header it refuses
    /// leaves the record in the ring.
    #[inline]
    fn pop_append_to<'b>(
        &mut self,
        admit: impl FnOnce(&RecordHeader) -> Result<&'b mut Vec<u8>, Violation>,
    ) -> Result<Option<RecordHeader>, Violation> {
        let at = self.data.offset_of(self.head);
        // SYNC(commit): Acquire ← Release in `Producer::try_push`.
        // SAFETY: `head` is 8-aligned (record lengths are) and so is the word.
        let commit = unsafe { self.data.load_word(at, Ordering::Acquire) };
        if commit != self.head + 1 {
            // Not yet written; or garbage, which a hostile producer may leave to
            // stall only itself.
            return Ok(None);
        }
        let mut raw = [MaybeUninit::<u8>::uninit(); HEADER_LEN - COMMIT_LEN];
        // SAFETY: HEADER_LEN < capacity.
        unsafe { read_wrapping(&self.data, self.head + COMMIT_LEN as u64, &mut raw) };
        // SAFETY: `read_wrapping` initialised every byte.
        let raw: [u8; HEADER_LEN - COMMIT_LEN] = unsafe { std::mem::transmute(raw) };
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..COMMIT_LEN].copy_from_slice(&commit.to_le_bytes());
        bytes[COMMIT_LEN..].copy_from_slice(&raw);
        let header: RecordHeader = bytemuck::pod_read_unaligned(&bytes);
        let (_, len) = header.validate(self.capacity - COMMIT_LEN as u64)?;
        let body_len = header.body_len();
        let buf = admit(&header)?;
        let start = buf.len();
        buf.reserve(body_len);
        // SAFETY: `validate` checked HEADER_LEN + body_len <= capacity.
        unsafe {
            read_wrapping(
                &self.data,
                self.head + HEADER_LEN as u64,
                &mut buf.spare_capacity_mut()[..body_len],
            )
        };
        // SAFETY: the first `body_len` spare bytes were just initialised.
        unsafe { buf.set_len(start + body_len) };
        self.head += len as u64;
        // SYNC(head): Release → Acquire in `Producer::free`; our copy is done.
        self.ctrl().head.0.store(self.head, Ordering::Release);
        Ok(Some(header))
    }
}

/// Lets any thread ask whether a ring's consumer has a record waiting, without
/// holding the consumer. Copyable; valid as long as the consumer's mapping.
#[derive(Clone)]
pub(crate) struct ReadyHint {
    ctrl: *const RingControl,
    data: SharedBytes,
    _backing: Backing,
}

// SAFETY: addresses into memory its `Backing` keeps alive; used for loads only.
unsafe impl Send for ReadyHint {}
// SAFETY: as for `Send`.
unsafe impl Sync for ReadyHint {}

impl ReadyHint {
    /// Whether the record at the consumer's published `head` is committed.
    ///
    /// Reads the shared copy of `head`, which the consumer's process wrote but
    /// anything with the segment mapped could have overwritten. So it is only
    /// for the consumer's own process (a renderer's threads asking about the
    /// reply ring), and the value is aligned down before use: a scribbled head
    /// gives a wrong answer, never a misaligned or out-of-bounds load.
    pub fn ready(&self) -> bool {
        // SAFETY: valid while `_backing` keeps the memory; atomics only.
        let head = unsafe { &*self.ctrl }.head.0.load(Ordering::Relaxed);
        let at = self.data.offset_of(head & !(RECORD_ALIGN as u64 - 1));
        // SYNC(commit): Acquire ← Release in `Producer::try_push` (a hint: the
        // consumer's `pop` loads it again).
        // SAFETY: `at` is 8-aligned and within the ring (masked), and the ring's
        // length is a multiple of 8, so the word is whole and in bounds.
        unsafe { self.data.load_word(at, Ordering::Acquire) == head.wrapping_add(1) }
    }
}

#[cfg(not(loom))]
mod heap_ring;
#[cfg(not(loom))]
pub(crate) use heap_ring::HeapRing;

#[cfg(all(test, not(loom)))]
mod tests;
