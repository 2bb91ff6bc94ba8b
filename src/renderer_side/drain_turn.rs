//! Whose turn it is to drain the reply ring, and how the others learn what
//! the drainer routed to them. The rule, in one place:
//!
//! - While any thread is blocked on a reply (`send_sync`, `Invocation::wait`)
//!   only such threads drain. Each routes what it passes in ring order: its
//!   own reply into its buffer, another call's reply to the stash (bumping
//!   [`DrainTurn::stashed`] and waking the callers' doorbell), messages to
//!   the inbox (raising `inbox_ready` and waking the receiver's doorbell).
//! - A thread waiting for its answer on the call line is not blocked in
//!   this sense: the receiver keeps draining meanwhile. The caller drains
//!   too, what the ring holds when its answer comes (so that what main sent
//!   before the answer is in the inbox before the call returns) and while
//!   it waits (for a renderer without a receiver thread).
//! - With no thread blocked, the receiver thread (or a pumping host) drains.
//! - When the last blocked caller leaves, the ring becomes the receiver's
//!   again. A record may already wait there, announced to nobody who will
//!   drain it: the leaving caller and the receiver settle that with a Dekker
//!   pair, below.
//!
//! Notes about memory ordering:
//! - `blocked` (Dekker pair): the leaving caller stores `blocked = 0`, fences
//!   (SeqCst), then looks for a record; the receiver announces its sleep on
//!   the reply.data doorbell (SeqCst RMW + fence), then reads `blocked` and
//!   looks for a record. Either the receiver sees `blocked == 0` and the
//!   record, or the caller sees the record and then the receiver's
//!   announcement (in `Doorbell::notify`), and wakes it. Proven by
//!   `model_tests::a_leaving_caller_hands_the_ring_to_the_receiver`.
//! - `stashed`, `inbox_ready`: hints only. What they announce is written
//!   under the replies lock, which the reader takes before reading it; the
//!   Release/Acquire pairs keep a hint from running ahead of its news.

use crate::ring::ReadyHint;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use crate::wait::Doorbell;

/// The drain turn's shared flags; see the module docs.
#[derive(Default)]
pub(crate) struct DrainTurn {
    /// Threads blocked on a reply, as `Replies` last published under its lock.
    blocked: AtomicUsize,
    /// Bumped whenever a drainer stashes a reply for another caller.
    stashed: AtomicU64,
    /// Set whenever a blocked caller leaves messages in the inbox.
    inbox_ready: AtomicBool,
    /// The call on the call line whose answer main may send through the
    /// ring instead (`call_line.rs`): a drainer stashes that reply though
    /// no thread registered the call. Zero for none.
    line_call: AtomicU64,
}

impl DrainTurn {
    /// Publishes how many threads are blocked on a reply (under the replies
    /// lock, which serialises the writers).
    pub fn set_blocked(&self, n: usize) {
        // SYNC(blocked): read by `receiver_may_drain` after the receiver's
        // doorbell fence, against the fence in `caller_left` (Dekker pair).
        self.blocked.store(n, Ordering::Relaxed);
    }

    /// Names the call on the call line (or none, 0). Set before its request
    /// is published; cleared under the replies lock while its reply may
    /// still come through the ring.
    pub fn set_line_call(&self, call_id: u64) {
        // SYNC(line_call): the drainer that meets the call's reply in the
        // ring reads this after main's Acquire of the request and its own
        // Acquire of the reply's commit word, so it sees the value; a clear
        // and a stash both happen under the replies lock.
        self.line_call.store(call_id, Ordering::Relaxed);
    }

    /// The call on the call line, if any (0 for none); under the replies lock.
    pub fn line_call(&self) -> u64 {
        // SYNC(line_call): see `set_line_call`.
        self.line_call.load(Ordering::Relaxed)
    }

    /// Whether the receiver may drain: nobody is blocked on a reply.
    pub fn receiver_may_drain(&self) -> bool {
        // SYNC(blocked): see `set_blocked`.
        self.blocked.load(Ordering::Relaxed) == 0
    }

    /// A blocked caller is done with the ring. If it was the last one, the
    /// ring is the receiver's again: wake it if a record already waits (else
    /// main's next message will).
    pub fn caller_left(&self, replies: &ReadyHint, receiver: &Doorbell) {
        if !self.receiver_may_drain() {
            return;
        }
        // SYNC(blocked): ↔ the fence in the receiver's `Doorbell::prepare`
        // (Dekker pair): either it sees `blocked == 0` or we see its
        // announcement when we notify.
        fence(Ordering::SeqCst);
        if replies.ready() {
            receiver.notify();
        }
    }

    /// What the receiver waits for: a record it may drain, or messages a
    /// caller left in the inbox.
    pub fn receiver_has_work(&self, replies: &ReadyHint) -> bool {
        (replies.ready() && self.receiver_may_drain())
            // SYNC(inbox_ready): Acquire ← Release in `note_inbox`.
            || self.inbox_ready.load(Ordering::Acquire)
    }

    /// A caller routed messages to the inbox (written under the replies lock).
    pub fn note_inbox(&self) {
        // SYNC(inbox_ready): Release → Acquire in `receiver_has_work`.
        self.inbox_ready.store(true, Ordering::Release);
    }

    /// The receiver is about to take the inbox: later news raises it again.
    pub fn clear_inbox(&self) {
        self.inbox_ready.store(false, Ordering::Relaxed);
    }

    /// How many stashes happened so far: a caller takes this before its
    /// request leaves, and looks in the stash only once it moved.
    pub fn stashed(&self) -> u64 {
        // SYNC(stashed): Acquire ← Release in `note_stashed`.
        self.stashed.load(Ordering::Acquire)
    }

    /// A drainer stashed a reply for another caller (under the replies lock).
    pub fn note_stashed(&self) {
        // SYNC(stashed): Release → Acquire in `stashed`.
        self.stashed.fetch_add(1, Ordering::Release);
    }
}
