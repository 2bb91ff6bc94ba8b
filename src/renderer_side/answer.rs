//! Answering main's `invoke` (main → renderer): the renderer's handler of
//! the channel runs, and its value, its error text, or the reason there is
//! no answer goes back to main as the call's reply.

use super::send::Patience;
use super::shared::Shared;
use crate::error::{Error, Result};
use crate::panics;
use crate::wire::failure::RemoteFailure;
use crate::wire::record::Kind;

impl Shared {
    /// Runs the handler of `channel` for main's call `call_id` and sends
    /// main the answer. Fails only if the answer cannot be sent (main gone).
    pub(super) fn answer_invoke(&self, channel: &str, arg: &[u8], call_id: u64) -> Result<()> {
        let entry = self
            .handlers
            .first(channel)
            .filter(|e| e.claim(&self.handlers));
        let Some(entry) = entry else {
            return self.fail_invoke(call_id, RemoteFailure::NoHandler, "");
        };
        let event = super::event::IpcRendererEvent { channel, from: 0 };
        let mut value = Vec::new();
        match panics::guarded(|| (entry.f)(&event, arg, &mut value)) {
            Ok(Ok(())) if value.len() > self.max_message => {
                let why = RemoteFailure::too_large(value.len(), self.max_message);
                self.reply(Kind::ErrorReply, &why, call_id)
            }
            Ok(Ok(())) => self.reply(Kind::Reply, &value, call_id),
            Ok(Err(message)) => self.fail_invoke(call_id, RemoteFailure::HandlerFailed, &message),
            Err(message) => {
                log::error!("renderer handler for '{channel}' panicked: {message}");
                self.fail_invoke(call_id, RemoteFailure::HandlerPanicked, &message)
            }
        }
    }

    fn fail_invoke(&self, call_id: u64, failure: RemoteFailure, detail: &str) -> Result<()> {
        let payload = failure.encode_text(detail, self.max_message);
        self.reply(Kind::ErrorReply, &payload, call_id)
    }

    fn reply(&self, kind: Kind, payload: &[u8], call_id: u64) -> Result<()> {
        match self.push(kind, "", payload, call_id, Patience::Wait(None)) {
            Err(Error::Disconnected) => Err(Error::Disconnected),
            // Anything else is logged: the caller is a listener loop.
            Err(e) => {
                log::error!("cannot answer main's call {call_id}: {e}");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }
}
