//! A small `send_sync` on the call line (`call_line.rs`): the request and
//! its answer share one cache line instead of a record in each ring. One
//! thread at a time; the others, and requests too long for the line, take
//! the rings (`call.rs`).

use super::call::Pending;
use super::shared::Shared;
use crate::call_line::{Answer, LineCaller};
use crate::error::{Error, Result};
use crate::wait;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Shared {
    /// Drains the reply ring as a blocked caller with no reply of its own
    /// there: messages to the inbox, replies to the stash; `scratch` is
    /// clobbered.
    fn route_for_others(&self, scratch: &mut Vec<u8>) -> Result<()> {
        let mut replies = self.lock_replies();
        let drained = replies.drain(None, scratch);
        drop(replies);
        let mut d = drained.map_err(super::shared::protocol)?;
        self.after_drain(&mut d);
        Ok(())
    }

    /// Makes the call on the line if it fits and the line is free; `None`
    /// (nothing sent) otherwise.
    #[inline]
    pub(super) fn try_call_on_line(
        &self,
        channel: &str,
        arg: &[u8],
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
    ) -> Option<Result<()>> {
        let on_line = self.line.as_ref()?;
        if !LineCaller::fits(channel.len(), arg.len()) {
            return None;
        }
        let mut using = on_line.caller.try_lock()?;
        if let Some(awaited) = using.abandoned {
            if !using.line.answered(awaited) {
                return None;
            }
            using.abandoned = None;
        }
        if self.closed.load(Ordering::Relaxed) {
            return Some(Err(Error::Disconnected));
        }
        let call_id = using.line.next_call_id();
        self.turn.set_line_call(call_id);
        // Every record this thread pushed before lies before this position.
        let pos = self.pushed_to.load(Ordering::Relaxed);
        let awaited = using.line.publish(pos, channel.as_bytes(), arg);
        // As in `Shared::call`: a caller that woke main hands its core over
        // (see `wait::park::hand_over_after_a_wake`).
        let spin = match self.request_data.notify() {
            true => &self.woke_main_spin,
            false => &self.call_spin,
        };
        let line = &using.line;
        let ready = || {
            if line.answered(awaited) {
                return Some(Ok(()));
            }
            if self.closed.load(Ordering::Relaxed) {
                return Some(Err(Error::Disconnected));
            }
            // What main sent meanwhile goes to the inbox, as a caller through
            // the rings routes it (for a renderer without a receiver thread,
            // nobody else would while the answer takes long).
            if self.reply_hint.ready()
                && let Err(e) = self.route_for_others(out)
            {
                return Some(Err(e));
            }
            None
        };
        let mut waited = wait::wait_for(&on_line.bell, spin, deadline, ready, || self.alive());
        // A caller through the rings drains what came before its reply; this
        // one takes what came before it left: what main sent before the
        // answer is in the inbox before the call returns. (Main answers on
        // the line only with nothing queued ahead of the answer.)
        if matches!(waited, Ok(Ok(()))) && self.reply_hint.ready() {
            waited = Ok(self.route_for_others(out));
        }
        let got = match waited.unwrap_or_else(|unmet| Err(self.unmet(unmet))) {
            Ok(()) => line.take(out).map_err(super::shared::protocol),
            Err(e) => {
                using.abandoned = Some(awaited);
                // Its answer may still come through the ring: drop it then.
                let mut replies = self.lock_replies();
                self.turn.set_line_call(0);
                replies.abandon(call_id, out);
                drop(replies);
                Err(e)
            }
        };
        if !matches!(got, Ok(Answer::InRing)) {
            // No reply for it will come through the ring (none did, if it gave
            // up: see above).
            self.turn.set_line_call(0);
        }
        Some(match got {
            Ok(Answer::Here { failure }) => self.decode_reply(Ok(failure), channel, out),
            Ok(Answer::InRing) => {
                // Registered now, as a blocked caller: a drainer (the
                // receiver, say) may have stashed the reply already, as the
                // line's call.
                let seen = self.turn.stashed().wrapping_sub(1);
                let mut replies = self.lock_replies();
                replies.expect(call_id, true);
                self.turn.set_line_call(0);
                drop(replies);
                let call = Pending { call_id, seen };
                self.await_reply(call, channel, Ok(()), out, deadline, &self.call_spin)
            }
            Err(e) => self.decode_reply(Err(e), channel, out),
        })
    }
}
