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
//!   consumer loads it with Acquire before copying the record out.
//! - `head`: the consumer copies bytes out, then stores `head` with Release; the
//!   producer loads `head` with Acquire before overwriting the freed bytes.

use crate::sync::{Backing, Ordering, SharedBytes};
use crate::wire::fragment::{Fed, Reassembly};
use crate::wire::layout::RingControl;
use crate::wire::record::{
    COMMIT_LEN, HEADER_LEN, Kind, RECORD_ALIGN, RecordHeader, Violation, record_len,
};
use std::mem::MaybeUninit;
#[cfg(not(loom))]
use std::sync::Arc;

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

/// Copies `src` into the ring at byte position `pos`, wrapping at the end.
///
/// # Safety
/// `src.len() <= data.len()`, and the range is free according to the protocol.
unsafe fn write_wrapping(data: &SharedBytes, pos: u64, src: &[u8]) {
    let start = data.offset_of(pos);
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
        for part in [rest_of_header, channel, payload] {
            // SAFETY: the record fits in the free space checked above, so every
            // part lies in bytes the consumer has released.
            unsafe { write_wrapping(&self.data, pos, part) };
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

/// A ring in ordinary heap memory, for tests and the fuzz entry points: the
/// same halves as over a mapping, with nothing shared between processes.
#[cfg(not(loom))]
pub(crate) struct HeapRing {
    ctrl: Box<RingControl>,
    /// `u64`s so the data area is 8-aligned, as a page-aligned mapping is;
    /// in cells, because the halves write them through a shared reference.
    words: Box<[std::cell::UnsafeCell<u64>]>,
    halves_taken: std::sync::atomic::AtomicBool,
}

// SAFETY: the cells are only accessed through `SharedBytes` by the ring's
// one producer and one consumer, under the ring protocol, as shared memory is.
#[cfg(not(loom))]
unsafe impl Sync for HeapRing {}

#[cfg(not(loom))]
impl HeapRing {
    /// A ring of `capacity` bytes (a power of two of at least 64) whose data
    /// area starts as `data`, zero-padded or cut to the capacity.
    pub fn new(capacity: usize, data: &[u8]) -> Arc<HeapRing> {
        assert!(capacity.is_power_of_two() && capacity >= 64);
        let mut words: Box<[_]> = (0..capacity / 8).map(|_| Default::default()).collect();
        for (word, chunk) in words.iter_mut().zip(data.chunks(8)) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            *std::cell::UnsafeCell::get_mut(word) = u64::from_ne_bytes(w);
        }
        Arc::new(HeapRing {
            ctrl: Box::default(),
            words,
            halves_taken: Default::default(),
        })
    }

    /// The ring's control block, as the peer would scribble over it.
    #[cfg(test)]
    pub fn control(&self) -> &RingControl {
        &self.ctrl
    }

    fn bytes(&self) -> SharedBytes {
        // Writable through the cells; covers the whole slice.
        let ptr = std::cell::UnsafeCell::raw_get(self.words.as_ptr()).cast::<u8>();
        // SAFETY: the words live as long as `self`; every half holds an `Arc`.
        unsafe { SharedBytes::new(ptr, self.words.len() * 8) }
    }

    /// Its one producer and one consumer; `None` once taken.
    pub fn halves(self: &Arc<Self>) -> Option<(Producer, Consumer)> {
        if self
            .halves_taken
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let (ctrl, bytes) = (&*self.ctrl as *const RingControl, self.bytes());
        // SAFETY: the memory lies in `self`, kept by the backing; the flag
        // above makes this the ring's only producer.
        let producer = unsafe { Producer::new(ctrl, bytes, self.clone()) };
        // SAFETY: as above, its only consumer.
        let consumer = unsafe { Consumer::new(ctrl, bytes, self.clone()) };
        Some((producer, consumer))
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;

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

    #[test]
    fn a_refused_continuation_copies_nothing_and_stays_in_the_ring() {
        use crate::wire::record::{CONTINUES, MORE};
        let mut r = ring(4096);
        let mut reassembly = Reassembly::new(1 << 20);
        let mut body = Vec::new();
        r.producer
            .try_push_flagged(Kind::Message, b"ch", b"abc", 0, MORE)
            .unwrap();
        r.producer
            .try_push_flagged(Kind::Message, b"", &[7; 600], 0, CONTINUES)
            .unwrap();
        let h = r.consumer.pop(&mut body).unwrap().unwrap();
        assert_eq!(reassembly.feed(h, &mut body), Ok(Fed::Partial));
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
        use crate::wire::record::MORE;
        let mut r = ring(4096);
        let mut reassembly = Reassembly::new(1 << 20);
        let mut body = Vec::new();
        r.producer
            .try_push_flagged(Kind::Message, b"ch", b"abc", 0, MORE)
            .unwrap();
        r.producer
            .try_push(Kind::Message, b"other", b"x", 0)
            .unwrap();
        let h = r.consumer.pop(&mut body).unwrap().unwrap();
        assert_eq!(reassembly.feed(h, &mut body), Ok(Fed::Partial));
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
            while let Err(PushError::Full { .. }) = r.producer.try_push(Kind::Message, b"o", &p, i)
            {
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
}
