//! The renderer's consuming side of the main → renderer ring, shared by every
//! thread that waits on it.
//!
//! While any `send_sync` is in flight, only the callers drain the ring: each
//! routes what it passes in ring order — its own reply straight into its buffer
//! (no thread hop), other callers' replies to the stash, messages to the inbox
//! for the receiver thread. With no call in flight the receiver thread drains.
//! So messages keep the order main sent them in, including those that arrived
//! while a `send_sync` was blocked, and a lone caller always reads its own reply.

use crate::fragment::{Fed, Reassembly};
use crate::record::{Kind, RecordHeader, Violation};
use crate::ring::Consumer;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Stash buffers kept for reuse, so routing replies between threads does not
/// allocate in steady state.
const SPARE_BUFFERS: usize = 16;

pub(crate) struct Replies {
    pub consumer: Consumer,
    /// Messages waiting for the receiver thread, each encoded as
    /// `[channel_len: u8][payload_len: u32 LE][channel][payload]`.
    pub inbox: Vec<u8>,
    /// Sync calls still waiting for their reply.
    outstanding: Vec<u64>,
    /// `outstanding.len()`, readable without the lock (the receiver thread's
    /// wait condition). Every change to `outstanding` goes through `set_*`.
    in_flight: Arc<AtomicUsize>,
    /// Replies drained by a thread other than their caller.
    stash: Vec<Stashed>,
    spare: Vec<Vec<u8>>,
    /// The message or reply in progress, when one arrives in fragments.
    reassembly: Reassembly,
    /// Where the receiver's drain puts a fragment it took out of the inbox.
    fragment: Vec<u8>,
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
}

impl Replies {
    pub fn new(consumer: Consumer, in_flight: Arc<AtomicUsize>, max_message: usize) -> Self {
        Replies {
            consumer,
            inbox: Vec::new(),
            outstanding: Vec::new(),
            in_flight,
            stash: Vec::new(),
            spare: Vec::new(),
            reassembly: Reassembly::new(max_message),
            fragment: Vec::new(),
        }
    }

    /// The next whole message or reply from the ring, reassembled if it came
    /// in fragments; `None` when the ring holds no more of one. `out` gets
    /// its channel and payload.
    fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<RecordHeader>, Violation> {
        while let Some(h) = self.consumer.pop(out)? {
            if let Fed::Whole(h) = self.reassembly.feed(h, out)? {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    /// Sync calls in flight.
    pub fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    pub fn expect(&mut self, call_id: u64) {
        self.outstanding.push(call_id);
        self.publish_in_flight();
    }

    /// The call is over, answered or not.
    fn settle(&mut self, call_id: u64) {
        self.outstanding.retain(|&c| c != call_id);
        self.publish_in_flight();
    }

    fn publish_in_flight(&self) {
        // SYNC(in_flight): read by the receiver thread after its `prepare`
        // fence, against the fence in `Inner::call_finished` (Dekker pair).
        self.in_flight
            .store(self.outstanding.len(), Ordering::Relaxed);
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
            match Kind::from_u8(h.kind) {
                Some(Kind::Message) => {
                    self.inbox.push(h.channel_len);
                    self.inbox.extend_from_slice(&h.payload_len.to_le_bytes());
                    self.inbox.extend_from_slice(out);
                    done.to_inbox = true;
                }
                Some(kind @ (Kind::Reply | Kind::ErrorReply)) => {
                    let is_error = kind == Kind::ErrorReply;
                    if want == Some(h.call_id) {
                        self.settle(h.call_id);
                        done.mine = Some(is_error);
                        return Ok(done);
                    }
                    if self.outstanding.contains(&h.call_id) {
                        let mut payload = self.spare.pop().unwrap_or_default();
                        payload.clear();
                        payload.extend_from_slice(out);
                        self.stash.push(Stashed {
                            call_id: h.call_id,
                            is_error,
                            payload,
                        });
                        done.to_stash = true;
                    }
                    // Otherwise the caller gave up (timeout): the reply is dropped.
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
    /// The receiver thread's drain, with no call in flight: copies messages
    /// straight into the inbox (one copy out of the ring, not two) until about
    /// [`RECEIVER_BATCH`] bytes are there or the ring is empty. Replies found
    /// now belong to calls that gave up, and are dropped.
    pub fn drain_messages(&mut self) -> Result<bool, Violation> {
        debug_assert!(self.outstanding.is_empty());
        let mut any = false;
        while self.inbox.len() < RECEIVER_BATCH {
            let at = self.inbox.len();
            self.inbox.extend_from_slice(&[0; INBOX_PREFIX]);
            let popped = self.consumer.pop_append(&mut self.inbox);
            let (kind, h) = match popped {
                Ok(Some(h)) if h.flags == 0 && !self.reassembly.in_progress() => {
                    (Kind::from_u8(h.kind), h)
                }
                Ok(Some(h)) => {
                    // A fragment: out of the inbox and through reassembly.
                    self.fragment.clear();
                    self.fragment
                        .extend_from_slice(&self.inbox[at + INBOX_PREFIX..]);
                    self.inbox.truncate(at + INBOX_PREFIX);
                    match self.reassembly.feed(h, &mut self.fragment) {
                        Ok(Fed::Whole(h)) => {
                            self.inbox.extend_from_slice(&self.fragment);
                            self.fragment = Vec::new();
                            (Kind::from_u8(h.kind), h)
                        }
                        Ok(Fed::Partial | Fed::Aborted) => {
                            self.inbox.truncate(at);
                            any = true;
                            continue;
                        }
                        Err(v) => {
                            self.inbox.truncate(at);
                            return Err(v);
                        }
                    }
                }
                Ok(None) => {
                    self.inbox.truncate(at);
                    break;
                }
                Err(v) => {
                    self.inbox.truncate(at);
                    return Err(v);
                }
            };
            any = true;
            match kind {
                Some(Kind::Message) => {
                    self.inbox[at] = h.channel_len;
                    self.inbox[at + 1..at + INBOX_PREFIX]
                        .copy_from_slice(&h.payload_len.to_le_bytes());
                }
                Some(Kind::Reply | Kind::ErrorReply) => self.inbox.truncate(at),
                _ => {
                    self.inbox.truncate(at);
                    return Err(Violation::UnexpectedKind(h.kind));
                }
            }
        }
        Ok(any)
    }
}

/// Bytes before each inbox entry: `[channel_len: u8][payload_len: u32 LE]`.
const INBOX_PREFIX: usize = 5;

/// Iterates over an inbox batch: `(channel, payload)` pairs.
pub(crate) fn messages(mut batch: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let (&ch_len, rest) = batch.split_first()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let (channel, rest) = rest.split_at(ch_len as usize);
        let (payload, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        batch = rest;
        Some((channel, payload))
    })
}
