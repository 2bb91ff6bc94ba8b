//! `IpcMainEvent`: what a main-side listener learns about one message.

use super::WebContents;
use super::responder::Responder;
use super::web_contents::Route;
use crate::error::Result;

/// The event passed to every listener registered with [`crate::IpcMain::on`].
pub struct IpcMainEvent<'a> {
    pub(crate) sender: &'a WebContents,
    pub(crate) channel: &'a str,
    pub(crate) sync: bool,
    /// An `invoke` for the channel's handler.
    pub(crate) invoke: bool,
    pub(crate) call_id: u64,
    /// How a sync message came, and so how its answer goes back.
    pub(crate) route: Route,
    pub(crate) reply: &'a mut ReturnValue,
}

/// The dispatcher's reusable buffer for an `invoke` handler's answer (it
/// keeps its capacity across calls, so answering does not allocate once
/// warmed up), and what became of the answer.
#[derive(Default)]
pub(crate) struct ReturnValue {
    pub bytes: Vec<u8>,
    /// A value was set (for a sync message, it was sent at once).
    pub set: bool,
    /// A listener took the [`Responder`]: the dispatcher sends nothing.
    pub deferred: bool,
}

impl ReturnValue {
    pub fn reset(&mut self) {
        self.bytes.clear();
        self.set = false;
        self.deferred = false;
    }
}

impl std::fmt::Debug for IpcMainEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcMainEvent")
            .field("sender", self.sender)
            .field("channel", &self.channel)
            .field("sync", &self.sync)
            .field("has_return_value", &self.reply.set)
            .finish()
    }
}

impl IpcMainEvent<'_> {
    /// The renderer that sent the message (Electron's `event.sender`).
    pub fn sender(&self) -> &WebContents {
        self.sender
    }

    /// The channel the message arrived on.
    pub fn channel(&self) -> &str {
        self.channel
    }

    /// Whether the renderer is blocked in `send_sync` waiting for a return value.
    pub fn is_sync(&self) -> bool {
        self.sync
    }

    /// Answers a sync message (Electron's `event.returnValue = …`). The value
    /// goes to the waiting caller at once, as in Electron: what this listener
    /// or a later one sends the renderer afterwards arrives after it. The
    /// first value set wins; later calls and calls for asynchronous messages
    /// are ignored. Returns whether this call set the value.
    pub fn set_return_value(&mut self, value: impl AsRef<[u8]>) -> bool {
        if !self.sync || self.reply.set || self.reply.deferred {
            return false;
        }
        self.reply.set = true;
        // Straight from the listener's bytes onto the call line or into the
        // ring; a failure to answer is a disconnect, recorded on the
        // connection.
        let conn = &self.sender.conn;
        let _ = conn.answer_call(self.route, self.call_id, value.as_ref(), true);
        true
    }

    /// [`set_return_value`](Self::set_return_value) with a plain-old-data
    /// value, as it lies in memory.
    pub fn set_return_pod<T: crate::pod::Pod>(&mut self, value: &T) -> bool {
        self.set_return_value(bytemuck::bytes_of(value))
    }

    /// [`set_return_value`](Self::set_return_value) with a `serde` value,
    /// compactly encoded (feature `serde`). `Ok(false)` if a value was already
    /// set, as for `set_return_value`.
    #[cfg(feature = "serde")]
    pub fn set_return_serialized<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> crate::Result<bool> {
        Ok(self.set_return_value(crate::value::encode(value)?))
    }

    /// Sends a message back to the renderer that sent this one (Electron's
    /// `event.reply`); the same as `event.sender().send(…)`.
    pub fn reply(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<()> {
        self.sender.send(channel, arg)
    }

    /// Whether a return value has been set for this message.
    pub fn has_return_value(&self) -> bool {
        self.reply.set
    }

    /// Takes the right to answer this sync message, or this `invoke` in a
    /// handler, later and from any thread (see [`Responder`]). `None` for an
    /// asynchronous message, or once a value was set or the responder taken:
    /// the first answer wins. A handler that takes it answers only through
    /// it: what the handler then returns is ignored.
    pub fn take_responder(&mut self) -> Option<Responder> {
        if !(self.sync || self.invoke) || self.reply.set || self.reply.deferred {
            return None;
        }
        self.reply.deferred = true;
        Some(Responder {
            to: self.sender.clone(),
            call_id: self.call_id,
            route: self.route,
            invoke: self.invoke,
            answered: false,
        })
    }
}
