//! [`Replies`]: the renderer's consuming side of the main → renderer ring,
//! behind one lock shared by every thread that drains it (whose turn that
//! is: `drain_turn`), with the calls still waiting for an answer, the stash
//! of answers drained by a thread other than their caller, and the inbox.
//!
//! Each drainer routes what it passes in ring order — its own reply
//! straight into its buffer (no thread hop), other calls' replies to the
//! stash, messages to the inbox. The receiver thread stashes the replies of
//! pending invocations nobody blocks on (waking their futures). So messages
//! keep the order main sent them in, including those that arrived while a
//! `send_sync` was blocked, and a lone caller always reads its own reply.

use super::drain_turn::DrainTurn;
use super::inbox;
use crate::buffers::Keeper;
use crate::ring::Consumer;
use crate::wire::fragment::{Fed, Reassembly};
use crate::wire::record::{Kind, RecordHeader, Violation};
use std::sync::Arc;
use std::task::Waker;

/// Stash buffers kept for reuse, so routing replies between threads does not
/// allocate in steady state.
const SPARE_BUFFERS: usize = 16;

pub(crate) struct Replies {
    pub consumer: Consumer,
    /// Messages waiting for the receiver thread (see `inbox`).
    pub inbox: Vec<u8>,
    /// Calls still waiting for their reply.
    outstanding: Vec<Outstanding>,
    /// Where how many of them have a thread blocked on them is published,
    /// readable without the lock (the receiver thread's wait condition).
    turn: Arc<DrainTurn>,
    /// Replies drained by a thread other than their caller.
    stash: Vec<Stashed>,
    spare: Vec<Vec<u8>>,
    /// The message or reply in progress, when one arrives in fragments.
    reassembly: Reassembly,
    /// Where the receiver's drain puts a fragment it took out of the inbox.
    fragment: Vec<u8>,
    /// Keeps `fragment` warm while big messages come.
    keeper: Keeper,
}

struct Outstanding {
    call_id: u64,
    /// A thread is blocked on it (and drains the ring itself).
    blocked: bool,
    /// A future polled for it: woken when its reply is stashed.
    waker: Option<Waker>,
}

struct Stashed {
    call_id: u64,
    is_error: bool,
    payload: Vec<u8>,
}

/// What one [`Replies::drain`] did.
#[derive(Default)]
pub(crate) struct Drained {
    /// The wanted reply was found (and is in `out`); `true` if an error reply.
    pub mine: Option<bool>,
    /// A message went to the inbox: the receiver thread must be woken.
    pub to_inbox: bool,
    /// Another caller's reply went to the stash: callers must be woken.
    pub to_stash: bool,
    /// Something was consumed: main may be waiting for the room.
    pub consumed: bool,
    /// Futures whose replies were stashed; to wake once the lock is released.
    pub wakers: Vec<Waker>,
}

impl Replies {
    pub fn new(consumer: Consumer, turn: Arc<DrainTurn>, max_message: usize) -> Self {
        Replies {
            consumer,
            inbox: Vec::new(),
            outstanding: Vec::new(),
            turn,
            stash: Vec::new(),
            spare: Vec::new(),
            reassembly: Reassembly::new(max_message),
            fragment: Vec::new(),
            keeper: Keeper::default(),
        }
    }

    /// The next whole message or reply from the ring, reassembled if it came
    /// in fragments; `None` when the ring holds no more of one. `out` gets
    /// its channel and payload.
    fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<RecordHeader>, Violation> {
        while let Some(fed) = self.consumer.pop_message(&mut self.reassembly, out)? {
            if let Fed::Whole(h) = fed {
                // Begun by the receiver's drain, behind room for its prefix.
                let front = self.reassembly.take_front_of_whole();
                out.drain(..front);
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    /// Threads blocked on a reply.
    pub fn blocked_callers(&self) -> usize {
        self.outstanding.iter().filter(|o| o.blocked).count()
    }

    /// Registers a call before its request leaves; `blocked` if the calling
    /// thread will wait for it now (`send_sync`), not later (`invoke`).
    pub fn expect(&mut self, call_id: u64, blocked: bool) {
        self.outstanding.push(Outstanding {
            call_id,
            blocked,
            waker: None,
        });
        if blocked {
            self.publish_blocked();
        }
    }

    /// A thread now blocks on a pending call (`Invocation::wait`).
    pub fn block(&mut self, call_id: u64) {
        if let Some(o) = self.outstanding.iter_mut().find(|o| o.call_id == call_id) {
            o.blocked = true;
            self.publish_blocked();
        }
    }

    /// A future waits for `call_id`: wake `waker` when its reply is stashed.
    pub fn set_waker(&mut self, call_id: u64, waker: &Waker) {
        if let Some(o) = self.outstanding.iter_mut().find(|o| o.call_id == call_id) {
            match &mut o.waker {
                Some(w) => w.clone_from(waker),
                none => *none = Some(waker.clone()),
            }
        }
    }

    /// Every waiting future's waker, taken: the connection is ending.
    pub fn take_wakers(&mut self) -> Vec<Waker> {
        self.outstanding
            .iter_mut()
            .filter_map(|o| o.waker.take())
            .collect()
    }

    /// The call is over, answered or not.
    fn settle(&mut self, call_id: u64) {
        let Some(i) = self.outstanding.iter().position(|o| o.call_id == call_id) else {
            return;
        };
        if self.outstanding.swap_remove(i).blocked {
            self.publish_blocked();
        }
    }

    fn publish_blocked(&self) {
        self.turn.set_blocked(self.blocked_callers());
    }

    /// Keeps a reply for the call that expects it (or the call line's call),
    /// or drops it if none does (the caller gave up); a kept one is marked in
    /// `done`, and its future's waker moved there.
    fn stash_reply(&mut self, call_id: u64, is_error: bool, body: &[u8], done: &mut Drained) {
        let o = self.outstanding.iter_mut().find(|o| o.call_id == call_id);
        // The call line's call registers only once it learns its answer
        // comes this way, which may be after the answer came.
        if o.is_none() && call_id != self.turn.line_call() {
            return;
        }
        if let Some(w) = o.and_then(|o| o.waker.take()) {
            done.wakers.push(w);
        }
        let mut payload = self.spare.pop().unwrap_or_default();
        payload.clear();
        payload.extend_from_slice(body);
        self.stash.push(Stashed {
            call_id,
            is_error,
            payload,
        });
        done.to_stash = true;
    }

    /// Forgets a call (timed out, failed, or main gone). Returns its reply if
    /// it was stashed meanwhile.
    pub fn abandon(&mut self, call_id: u64, out: &mut Vec<u8>) -> Option<bool> {
        self.settle(call_id);
        self.take_stashed(call_id, out)
    }

    /// Hands over `call_id`'s reply if another thread stashed it, and settles
    /// the call.
    pub fn take_stashed(&mut self, call_id: u64, out: &mut Vec<u8>) -> Option<bool> {
        let i = self.stash.iter().position(|s| s.call_id == call_id)?;
        self.settle(call_id);
        let mut s = self.stash.swap_remove(i);
        std::mem::swap(out, &mut s.payload);
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(s.payload);
        }
        Some(s.is_error)
    }

    /// Drains the ring until `want`'s reply is found or the ring is empty.
    /// `out` is scratch space, and holds the wanted reply's payload if found.
    pub fn drain(&mut self, want: Option<u64>, out: &mut Vec<u8>) -> Result<Drained, Violation> {
        let mut done = Drained::default();
        while let Some(h) = self.next(out)? {
            done.consumed = true;
            match Kind::from_u8(h.kind) {
                Some(Kind::Message | Kind::Invoke) => {
                    inbox::push(&mut self.inbox, &h, out);
                    done.to_inbox = true;
                }
                Some(kind @ (Kind::Reply | Kind::ErrorReply)) => {
                    let is_error = kind == Kind::ErrorReply;
                    if want == Some(h.tag) {
                        self.settle(h.tag);
                        done.mine = Some(is_error);
                        return Ok(done);
                    }
                    self.stash_reply(h.tag, is_error, out, &mut done);
                }
                _ => return Err(Violation::UnexpectedKind(h.kind)),
            }
        }
        Ok(done)
    }
}

/// Bytes of messages the receiver thread takes from the ring before it runs
/// their listeners: small enough that the batch is still in cache when they
/// read it, large enough to amortise the lock and the wake-ups.
pub(crate) const RECEIVER_BATCH: usize = 256 << 10;

impl Replies {
    /// The receiver thread's drain, with no thread blocked on a reply: copies
    /// messages straight into the inbox (one copy out of the ring, not two)
    /// until about [`RECEIVER_BATCH`] bytes are there or the ring is empty.
    /// Replies go to the stash for pending invocations, or are dropped if
    /// their caller gave up.
    pub fn drain_messages(&mut self) -> Result<Drained, Violation> {
        debug_assert_eq!(self.blocked_callers(), 0);
        let mut done = Drained::default();
        while self.inbox.len() < RECEIVER_BATCH {
            let at = self.inbox.len();
            let popped = self.pop_into_inbox(at, &mut done);
            let h = match popped {
                Ok(Some(h)) => h,
                Ok(None) => {
                    if !done.consumed {
                        // Nothing came: the receiver is about to wait.
                        self.keeper.idle(&mut self.fragment);
                    }
                    break;
                }
                Err(v) => {
                    self.inbox.truncate(at);
                    return Err(v);
                }
            };
            match Kind::from_u8(h.kind) {
                Some(Kind::Message | Kind::Invoke) => inbox::write_prefix(&mut self.inbox, at, &h),
                Some(kind @ (Kind::Reply | Kind::ErrorReply)) => {
                    let mut body = std::mem::take(&mut self.fragment);
                    body.clear();
                    body.extend_from_slice(&self.inbox[at + inbox::PREFIX..]);
                    self.inbox.truncate(at);
                    self.stash_reply(h.tag, kind == Kind::ErrorReply, &body, &mut done);
                    self.fragment = body;
                }
                _ => {
                    self.inbox.truncate(at);
                    return Err(Violation::UnexpectedKind(h.kind));
                }
            }
        }
        Ok(done)
    }

    /// Pops the next whole message or reply into an inbox entry at `at`
    /// (prefix not yet written), reassembling fragments on the way; `None`
    /// when the ring holds no more of one (the inbox is then as it was).
    fn pop_into_inbox(
        &mut self,
        at: usize,
        done: &mut Drained,
    ) -> Result<Option<RecordHeader>, Violation> {
        loop {
            if self.reassembly.in_progress() {
                // A continuation goes straight into its message, which
                // joins the inbox whole.
                let fed = self
                    .consumer
                    .pop_message(&mut self.reassembly, &mut self.fragment)?;
                match fed {
                    None => return Ok(None),
                    Some(Fed::Whole(h)) => {
                        done.consumed = true;
                        let front = self.reassembly.take_front_of_whole();
                        if at == 0 && front == inbox::PREFIX {
                            // Reassembled behind room for its prefix: the
                            // message becomes the inbox, without a copy (the
                            // inbox and the receiver's batch swap buffers, so
                            // a big one stays warm there).
                            std::mem::swap(&mut self.inbox, &mut self.fragment);
                            self.fragment.clear();
                        } else {
                            self.inbox.resize(at + inbox::PREFIX, 0);
                            self.inbox.extend_from_slice(&self.fragment[front..]);
                            // Kept for the next big message, while they come.
                            let used = self.fragment.len();
                            self.fragment.clear();
                            self.keeper.used(&mut self.fragment, used);
                        }
                        return Ok(Some(h));
                    }
                    Some(Fed::Partial | Fed::Aborted) => {
                        done.consumed = true;
                        continue;
                    }
                }
            }
            self.inbox.resize(at + inbox::PREFIX, 0);
            let Some(h) = self.consumer.pop_append(&mut self.inbox)? else {
                self.inbox.truncate(at);
                return Ok(None);
            };
            done.consumed = true;
            if h.flags == 0 {
                return Ok(Some(h));
            }
            // The first fragment: out of the inbox, to begin the message
            // behind room for its inbox prefix.
            self.fragment.clear();
            self.fragment.resize(inbox::PREFIX, 0);
            self.fragment
                .extend_from_slice(&self.inbox[at + inbox::PREFIX..]);
            self.inbox.truncate(at);
            match self
                .reassembly
                .feed_behind(h, &mut self.fragment, inbox::PREFIX)?
            {
                Fed::Whole(h) => {
                    // A lone fragment without MORE cannot start one:
                    // `feed_behind` hands it back whole.
                    self.inbox.resize(at + inbox::PREFIX, 0);
                    self.inbox
                        .extend_from_slice(&self.fragment[inbox::PREFIX..]);
                    return Ok(Some(h));
                }
                Fed::Partial | Fed::Aborted => {}
            }
        }
    }
}
