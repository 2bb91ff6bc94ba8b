//! [`Responder`]: the right to answer a sync message or an `invoke` later,
//! from any thread.

use super::WebContents;
use super::web_contents::Route;
use crate::error::Result;
use crate::wire::failure::RemoteFailure;

/// The right to answer one sync message or one `invoke` later, from any
/// thread: what
/// [`IpcMainEvent::take_responder`](crate::IpcMainEvent::take_responder) hands out.
/// Hosts whose handlers finish asynchronously (a JavaScript `Promise`) take
/// it in the handler and answer when the work is done.
///
/// Answering consumes it, so the first answer is the only one. Dropping it
/// unanswered answers the caller with [`Error::NoReturnValue`](crate::Error::NoReturnValue) rather than
/// leaving it blocked.
///
/// ```no_run
/// # fn main() -> ringipc::Result<()> {
/// let ipc = ringipc::IpcMain::new()?;
/// ipc.on("slow-question", |event, arg| {
///     let responder = event.take_responder().expect("a sync message");
///     let question = arg.to_vec();
///     std::thread::spawn(move || {
///         let answer = question.len().to_string(); // some long computation
///         let _ = responder.respond(answer);
///     });
/// })?;
/// # Ok(()) }
/// ```
pub struct Responder {
    pub(super) to: WebContents,
    pub(super) call_id: u64,
    /// How the call came: its answer goes back the same way.
    pub(super) route: Route,
    /// An `invoke`'s answer: nobody may be blocked on it, so the renderer's
    /// receiver is woken for it.
    pub(super) invoke: bool,
    pub(super) answered: bool,
}

impl Responder {
    /// Answers the call with `value`. Fails with [`Error::Disconnected`](crate::Error::Disconnected) if
    /// the renderer is gone, and with [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) (after
    /// answering the caller with that error) if the value is too long.
    pub fn respond(mut self, value: impl AsRef<[u8]>) -> Result<()> {
        self.answered = true;
        let conn = &self.to.conn;
        let answered = conn.answer_call(self.route, self.call_id, value.as_ref(), false);
        self.wake();
        answered
    }

    /// Answers the call with an error: the caller's `send_sync` or `invoke`
    /// fails with [`Error::HandlerFailed`](crate::Error::HandlerFailed)
    /// carrying `message`, as when a handler returns an error.
    pub fn fail(mut self, message: &str) {
        self.answered = true;
        let failure = RemoteFailure::HandlerFailed;
        self.to
            .conn
            .fail_call(self.route, self.call_id, failure, message);
        self.wake();
    }

    fn wake(&self) {
        if self.invoke {
            self.to.conn.wake_receiver();
        }
    }

    /// The renderer waiting for the answer.
    pub fn sender(&self) -> &WebContents {
        &self.to
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            let failure = RemoteFailure::NoReturnValue;
            self.to
                .conn
                .fail_call(self.route, self.call_id, failure, "");
            self.wake();
        }
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("to", &self.to)
            .field("call_id", &self.call_id)
            .finish()
    }
}
