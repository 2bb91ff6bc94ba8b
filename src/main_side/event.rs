//! `IpcMainEvent`: what a main-side listener learns about one message.

use super::WebContents;

/// The event passed to every listener registered with [`crate::IpcMain::on`].
pub struct IpcMainEvent<'a> {
    pub(crate) sender: &'a WebContents,
    pub(crate) channel: &'a str,
    pub(crate) sync: bool,
    pub(crate) reply: &'a mut ReturnValue,
}

/// The dispatcher's reusable return-value buffer; keeps its capacity across
/// calls so setting a value does not allocate once warmed up.
#[derive(Default)]
pub(crate) struct ReturnValue {
    pub bytes: Vec<u8>,
    pub set: bool,
}

impl ReturnValue {
    pub fn reset(&mut self) {
        self.bytes.clear();
        self.set = false;
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

    /// Answers a sync message (Electron's `event.returnValue = …`). The first
    /// value set wins, as in Electron; later calls and calls for asynchronous
    /// messages are ignored. Returns whether this call set the value.
    pub fn set_return_value(&mut self, value: impl AsRef<[u8]>) -> bool {
        if !self.sync || self.reply.set {
            return false;
        }
        self.reply.bytes.extend_from_slice(value.as_ref());
        self.reply.set = true;
        true
    }

    /// Whether a return value has been set for this message.
    pub fn has_return_value(&self) -> bool {
        self.reply.set
    }
}
