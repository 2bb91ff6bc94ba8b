//! [`Invocation`]: a call made with `invoke` whose answer has not been
//! taken yet, to wait for or to `.await`.

use super::call::Pending;
use super::shared::{Shared, protocol};
use crate::error::{Error, Result};
use crate::wait;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A call made with [`crate::IpcRenderer::invoke`] whose answer has not been taken.
///
/// Take it by blocking ([`wait`](Self::wait), [`wait_timeout`](Self::wait_timeout))
/// or as a [`Future`] on any executor; ringipc needs no
/// async runtime. Dropping it forgets the call: a late answer is discarded.
///
/// The future is woken by whichever thread drains the answer: the receiver
/// thread, or a thread blocked in another call. A renderer without a receiver
/// thread ([`crate::IpcRenderer::from_env_without_receiver`]) wakes it only
/// while the host is in [`crate::IpcRenderer::recv`] or a call; polling it
/// again also looks for the answer itself. Polling it after it completed is
/// an error.
pub struct Invocation {
    pub(super) shared: Arc<Shared>,
    pub(super) call_id: u64,
    pub(super) channel: String,
    /// `DrainTurn::stashed` when the call was made.
    pub(super) seen: u64,
    pub(super) settled: bool,
}

impl Invocation {
    /// Blocks until the answer comes.
    pub fn wait(self) -> Result<Vec<u8>> {
        self.wait_until(None)
    }

    /// Blocks until the answer comes or `timeout` passes
    /// ([`Error::Timeout`]; the call is then forgotten).
    pub fn wait_timeout(self, timeout: Duration) -> Result<Vec<u8>> {
        self.wait_until(wait::deadline_in(timeout))
    }

    fn wait_until(mut self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        self.settled = true;
        let shared = &self.shared;
        shared.lock_replies().block(self.call_id);
        let mut out = Vec::new();
        let call = Pending {
            call_id: self.call_id,
            seen: self.seen,
        };
        let spin = &shared.call_spin;
        shared.await_reply(call, &self.channel, Ok(()), &mut out, deadline, spin)?;
        Ok(out)
    }
}

impl Future for Invocation {
    type Output = Result<Vec<u8>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.settled {
            return Poll::Ready(Err(Error::WrongMode("the invocation already completed")));
        }
        let shared = self.shared.clone();
        let mut out = Vec::new();
        let mut replies = shared.lock_replies();
        // Whoever drains the ring stashes our answer and wakes the waker;
        // both happen under this lock, so neither can slip between the two.
        let mut got = replies.take_stashed(self.call_id, &mut out).map(Ok);
        let mut drained = None;
        if got.is_none() && replies.blocked_callers() == 0 && shared.reply_hint.ready() {
            // Nobody blocked drains the ring: look ourselves, so that a
            // future polled in a listener, or with no receiver thread, still
            // finds its answer (messages passed go to the inbox as usual).
            match replies.drain(Some(self.call_id), &mut out) {
                Ok(d) => {
                    got = d.mine.map(Ok);
                    drained = Some(d);
                }
                Err(v) => got = Some(Err(protocol(v))),
            }
        }
        let gone = shared.closed.load(Ordering::Relaxed) || shared.stopping.load(Ordering::Relaxed);
        if got.is_none() && !gone {
            replies.set_waker(self.call_id, cx.waker());
        }
        drop(replies);
        if let Some(mut d) = drained {
            shared.after_drain(&mut d);
        }
        let got = match got {
            Some(got) => got,
            None if gone => Err(Error::Disconnected),
            None => return Poll::Pending,
        };
        self.settled = true;
        if got.is_err() {
            shared.lock_replies().abandon(self.call_id, &mut Vec::new());
        }
        Poll::Ready(
            shared
                .decode_reply(got, &self.channel, &mut out)
                .map(|()| out),
        )
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        if !self.settled {
            let mut out = Vec::new();
            self.shared.lock_replies().abandon(self.call_id, &mut out);
        }
    }
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("channel", &self.channel)
            .field("call_id", &self.call_id)
            .finish()
    }
}
