//! [`Calls`]: main's `invoke`s of one renderer that await an answer, and
//! the [`MainInvocation`] handle a caller holds on one of them.
//!
//! An answer is hostile input: it is bounded by `max_message_len` like any
//! message, charged to the renderer's share of main's memory budget while it
//! waits to be taken, and an answer to a call main never made is a protocol
//! violation (a late one, to a call main gave up on, is dropped).

use super::budget::{Account, Charge};
use crate::error::{Error, Result};
use crate::wait;
use crate::wire::failure::RemoteFailure;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// One call's meeting point between the dispatcher, which delivers the
/// answer, and the caller, which waits for it (blocked, or as a future).
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<State>,
    answered: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The answer, once it came (with its charge on the renderer's share).
    answer: Option<(Result<Vec<u8>>, Option<Charge>)>,
    waker: Option<Waker>,
}

impl Slot {
    fn settle(&self, answer: Result<Vec<u8>>, charge: Option<Charge>) {
        let mut state = self.state.lock();
        if state.answer.is_none() {
            state.answer = Some((answer, charge));
        }
        let waker = state.waker.take();
        drop(state);
        self.answered.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The calls main made of one renderer.
#[derive(Debug)]
pub(crate) struct Calls {
    inner: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    /// The next call id; ids below it were handed out.
    next: u64,
    pending: HashMap<u64, Arc<Slot>>,
    /// No more calls: the renderer is gone.
    closed: bool,
}

impl Default for Calls {
    fn default() -> Self {
        Calls {
            inner: Mutex::new(Table {
                next: 1,
                pending: HashMap::new(),
                closed: false,
            }),
        }
    }
}

impl Calls {
    /// Registers a new call; `Err(Disconnected)` once the renderer is gone.
    fn begin(&self) -> Result<(u64, Arc<Slot>)> {
        let mut t = self.inner.lock();
        if t.closed {
            return Err(Error::Disconnected);
        }
        let id = t.next;
        t.next += 1;
        let slot = Arc::new(Slot::default());
        t.pending.insert(id, slot.clone());
        Ok((id, slot))
    }

    /// Forgets a call (answered, timed out, or dropped).
    fn forget(&self, id: u64) {
        self.inner.lock().pending.remove(&id);
    }

    /// Delivers the renderer's answer to call `id`, copied out of `payload`
    /// and charged to `account`. [`Refused`] when the renderer must be
    /// disconnected: an answer to a call never made, or memory refused.
    pub fn answer(
        &self,
        id: u64,
        error: bool,
        payload: &[u8],
        account: &Arc<Account>,
    ) -> std::result::Result<(), Refused> {
        let slot = {
            let mut t = self.inner.lock();
            if id == 0 || id >= t.next {
                let kind = if error { 4 } else { 3 };
                return Err(Refused {
                    reason: format!(
                        "protocol violation: an answer (record of kind {kind}) to call {id}, \
                         which main never made"
                    ),
                    call: None,
                });
            }
            match t.pending.remove(&id) {
                Some(slot) => slot,
                // Main gave up on it: a late answer is dropped.
                None => return Ok(()),
            }
        };
        // Whatever happens next, the caller hears of it.
        match take_answer(error, payload, account) {
            Ok((answer, charge)) => {
                slot.settle(answer, Some(charge));
                Ok(())
            }
            Err(reason) => Err(Refused {
                reason,
                call: Some(slot),
            }),
        }
    }

    /// The renderer is gone: every pending call fails, and no new one starts.
    pub fn close(&self) {
        let pending = {
            let mut t = self.inner.lock();
            t.closed = true;
            std::mem::take(&mut t.pending)
        };
        for slot in pending.into_values() {
            slot.settle(Err(Error::Disconnected), None);
        }
    }
}

/// An answer main would not take: the renderer is to be disconnected with
/// `reason`, and then the call it answered failed (in that order, so that
/// its caller finds the reason set).
#[derive(Debug)]
pub(crate) struct Refused {
    pub reason: String,
    call: Option<Arc<Slot>>,
}

impl Refused {
    /// Fails the call the refused answer was for (after the disconnect).
    pub fn fail_call(self) {
        if let Some(slot) = self.call {
            slot.settle(Err(Error::Disconnected), None);
        }
    }
}

/// Most bytes of an error answer's text main keeps: the text is decoded
/// (lossily, which can triple its size), so a renderer must not choose it.
const ERROR_TEXT_KEEP: usize = 64 << 10;

/// A renderer's answer copied out and charged to `account`: the value, or
/// the error it encodes (its text cut to [`ERROR_TEXT_KEEP`] bytes). `Err`
/// with the reason to disconnect the renderer if the memory is refused.
fn take_answer(
    error: bool,
    payload: &[u8],
    account: &Arc<Account>,
) -> std::result::Result<(Result<Vec<u8>>, Charge), String> {
    let mut charge = account.charge();
    if error {
        let kept = &payload[..payload.len().min(1 + ERROR_TEXT_KEEP)];
        charge
            .grow(3 * kept.len())
            .map_err(|over| over.to_string())?;
        // The channel is not known here; the caller fills it in.
        let failure = RemoteFailure::decode(kept, "").unwrap_or_else(|| {
            Error::Protocol("the renderer sent a malformed error answer".into())
        });
        return Ok((Err(failure), charge));
    }
    charge
        .grow(payload.len())
        .map_err(|over| over.to_string())?;
    let mut value = Vec::new();
    if value.try_reserve_exact(payload.len()).is_err() {
        return Err(charge.refused(payload.len()).to_string());
    }
    value.extend_from_slice(payload);
    Ok((Ok(value), charge))
}

/// A call made with [`crate::WebContents::invoke`] whose answer has not
/// been taken: main → renderer, answered by the renderer's
/// [`crate::IpcRenderer::handle`].
///
/// Take the answer by blocking ([`wait`](Self::wait),
/// [`wait_timeout`](Self::wait_timeout)) or as a [`Future`] on any executor;
/// neither blocks main's dispatcher. Dropping it forgets the call (a late
/// answer is dropped). A renderer that dies fails it with
/// [`Error::Disconnected`]; one without a handler on the channel answers
/// [`Error::NoHandler`]; a handler's error arrives as
/// [`Error::HandlerFailed`] with its text intact.
pub struct MainInvocation {
    calls: Arc<Calls>,
    id: u64,
    slot: Arc<Slot>,
    channel: String,
    settled: bool,
}

impl MainInvocation {
    /// Starts call `channel` with `calls`; the caller sends the request.
    pub(super) fn begin(calls: &Arc<Calls>, channel: &str) -> Result<MainInvocation> {
        let (id, slot) = calls.begin()?;
        Ok(MainInvocation {
            calls: calls.clone(),
            id,
            slot,
            channel: channel.to_owned(),
            settled: false,
        })
    }

    /// Main's id for this call (the record's tag).
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Blocks until the answer comes.
    pub fn wait(self) -> Result<Vec<u8>> {
        self.wait_until(None)
    }

    /// Blocks until the answer comes or `timeout` passes ([`Error::Timeout`];
    /// the call is then forgotten). `Duration::MAX` means no deadline.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Vec<u8>> {
        self.wait_until(wait::deadline_in(timeout))
    }

    fn wait_until(mut self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        let mut state = self.slot.state.lock();
        while state.answer.is_none() {
            match deadline {
                None => self.slot.answered.wait(&mut state),
                Some(d) => {
                    if self.slot.answered.wait_until(&mut state, d).timed_out()
                        && state.answer.is_none()
                    {
                        return Err(Error::Timeout);
                    }
                }
            }
        }
        let answer = state.answer.take();
        drop(state);
        self.settled = true;
        self.finish(answer)
    }

    /// The caller's view of an answer: the renderer's error names the channel.
    fn finish(&self, answer: Option<(Result<Vec<u8>>, Option<Charge>)>) -> Result<Vec<u8>> {
        self.calls.forget(self.id);
        let (answer, _charge) = answer.expect("answered");
        answer.map_err(|e| with_channel(e, &self.channel))
    }
}

/// The renderer's error with the call's channel filled in.
fn with_channel(e: Error, channel: &str) -> Error {
    let channel = channel.to_owned();
    match e {
        Error::NoHandler { .. } => Error::NoHandler { channel },
        Error::HandlerFailed { message, .. } => Error::HandlerFailed { channel, message },
        Error::HandlerPanicked { message, .. } => Error::HandlerPanicked { channel, message },
        Error::NoListener { .. } => Error::NoListener { channel },
        Error::NoReturnValue { .. } => Error::NoReturnValue { channel },
        other => other,
    }
}

impl Future for MainInvocation {
    type Output = Result<Vec<u8>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.settled {
            return Poll::Ready(Err(Error::WrongMode("the invocation already completed")));
        }
        let mut state = self.slot.state.lock();
        let Some(answer) = state.answer.take() else {
            match &mut state.waker {
                Some(w) => w.clone_from(cx.waker()),
                none => *none = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        };
        drop(state);
        self.settled = true;
        Poll::Ready(self.finish(Some(answer)))
    }
}

impl Drop for MainInvocation {
    fn drop(&mut self) {
        if !self.settled {
            self.calls.forget(self.id);
        }
    }
}

impl std::fmt::Debug for MainInvocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MainInvocation")
            .field("channel", &self.channel)
            .field("id", &self.id)
            .finish()
    }
}
