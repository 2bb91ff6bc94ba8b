//! [`Responder`]: the right to answer a sync message later, from any thread.

use super::WebContents;
use crate::error::Result;
use crate::wire::failure::RemoteFailure;

/// The right to answer one sync message later, from any thread: what
/// [`IpcMainEvent::take_responder`](crate::IpcMainEvent::take_responder) hands out.
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
    pub(super) answered: bool,
}

impl Responder {
    /// Answers the call with `value`. Fails with [`Error::Disconnected`](crate::Error::Disconnected) if
    /// the renderer is gone, and with [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) (after
    /// answering the caller with that error) if the value is too long.
    pub fn respond(mut self, value: impl AsRef<[u8]>) -> Result<()> {
        self.answered = true;
        self.to.conn.answer(self.call_id, value.as_ref())
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
            self.to.conn.fail(self.call_id, failure, "");
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
