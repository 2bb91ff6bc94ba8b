//! Sync calls: a request out, then the wait for its reply, draining the
//! reply ring meanwhile (whose turn that is: `drain_turn`).

use super::send::Patience;
use super::shared::{Shared, protocol};
use crate::error::{Error, Result, check_channel};
use crate::wait;
use crate::wait::spin::AdaptiveSpin;
use crate::wire::failure::RemoteFailure;
use crate::wire::record::{Kind, Violation};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A call registered with `Replies` whose reply has not been taken.
pub(super) struct Pending {
    pub call_id: u64,
    /// `DrainTurn::stashed` when the call was registered: a stash since then
    /// may hold its reply.
    pub seen: u64,
}

impl Shared {
    /// Registers a new call before its request leaves; `blocked` if the
    /// calling thread waits for it now (`send_sync`), not later (`invoke`).
    pub(super) fn begin_call(&self) -> Pending {
        let call_id = self.next_call.fetch_add(1, Ordering::Relaxed);
        // Taken before the request leaves: another thread may route our reply
        // to the stash before `push` even returns, and that must count as news.
        let seen = self.turn.stashed();
        Pending { call_id, seen }
    }

    /// One synchronous call; the reply lands in `out`.
    pub(super) fn call(
        &self,
        channel: &str,
        arg: &[u8],
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        check_channel(channel)?;
        if let Some(done) = self.try_call_on_line(channel, arg, out, deadline) {
            return done;
        }
        let call = self.begin_call();
        self.lock_replies().expect(call.call_id, true);
        let kind = Kind::SyncRequest;
        let pushed = self.push_telling(kind, channel, arg, call.call_id, Patience::Wait(deadline));
        // Main was asleep, and the kernel tends to wake it on this very
        // core, where spinning would hold it back: this wait yields the
        // core instead, up to the longest spin (see
        // `wait::park::hand_over_after_a_wake`), then parks. Sleeping at once
        // would add a wake-up of our own to every call: 80 µs instead of
        // 1 µs where main only dozes between calls (a host waiting on
        // main's descriptor), tens of microseconds where it sleeps long.
        let spin = match pushed {
            Ok(true) => &self.woke_main_spin,
            _ => &self.call_spin,
        };
        self.await_reply(call, channel, pushed.map(drop), out, deadline, spin)
    }

    /// Waits, blocked, for the reply to `call` (whose request `pushed`
    /// reports on), spinning as `spin` learned, and decodes it into `out` or
    /// an error. Settles the call whatever happens.
    #[inline]
    pub(super) fn await_reply(
        &self,
        call: Pending,
        channel: &str,
        pushed: Result<()>,
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
        spin: &AdaptiveSpin,
    ) -> Result<()> {
        let Pending { call_id, mut seen } = call;
        let got = pushed.and_then(|()| {
            let ready = || self.try_take_reply(call_id, out, &mut seen);
            let alive = || self.alive();
            let waited = wait::wait_for(&self.reply_calls, spin, deadline, ready, alive);
            waited.unwrap_or_else(|unmet| Err(self.unmet(unmet)))
        });
        let got = got.or_else(|e| {
            // A reply stashed meanwhile still wins over a timeout or a death.
            let stashed = self.lock_replies().abandon(call_id, out);
            stashed.ok_or(e)
        });
        self.turn.caller_left(&self.reply_hint, &self.reply_data);
        self.decode_reply(got, channel, out)
    }

    /// The caller's view of a reply: `Ok` with the value in `out`, or the
    /// error main sent or the wait ran into.
    #[inline]
    pub(super) fn decode_reply(
        &self,
        got: Result<bool>,
        channel: &str,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        match got {
            Ok(false) => Ok(()),
            Ok(true) => {
                let err = RemoteFailure::decode(out, channel)
                    .unwrap_or_else(|| protocol(Violation::BadErrorReply));
                out.clear();
                Err(err)
            }
            Err(e) => {
                if matches!(e, Error::Disconnected) {
                    self.close();
                }
                out.clear();
                Err(e)
            }
        }
    }

    /// One look for `call_id`'s reply: in the stash, then in the ring.
    fn try_take_reply(
        &self,
        call_id: u64,
        out: &mut Vec<u8>,
        seen: &mut u64,
    ) -> Option<Result<bool>> {
        // A reply main sent before it went still counts: look for it first.
        let closed = self.closed.load(Ordering::Relaxed);
        let gone = || closed.then_some(Err(Error::Disconnected));
        let stashed = self.turn.stashed();
        if !self.reply_hint.ready() && stashed == *seen {
            return gone();
        }
        *seen = stashed;
        let mut replies = self.lock_replies();
        if let Some(is_error) = replies.take_stashed(call_id, out) {
            return Some(Ok(is_error));
        }
        let drained = replies.drain(Some(call_id), out);
        drop(replies);
        match drained {
            Ok(mut d) => {
                self.after_drain(&mut d);
                d.mine.map(Ok).or_else(gone)
            }
            Err(v) => Some(Err(protocol(v))),
        }
    }
}
