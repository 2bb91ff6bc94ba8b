//! What a renderer learns about one message from main: [`Message`] when it
//! pumps, [`IpcRendererEvent`] when a listener runs.

/// A message from main taken with [`crate::IpcRenderer::recv`] and friends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The channel it was sent on.
    pub channel: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The renderer that sent it with [`crate::IpcRenderer::send_to`]; `None` if
    /// main sent it.
    pub sender_id: Option<u32>,
}

/// What a renderer-side listener learns about one message from main.
pub struct IpcRendererEvent<'a> {
    pub(super) channel: &'a str,
    pub(super) from: u32,
}

impl std::fmt::Debug for IpcRendererEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcRendererEvent")
            .field("channel", &self.channel)
            .field("sender_id", &self.sender_id())
            .finish()
    }
}

impl IpcRendererEvent<'_> {
    /// The channel the message arrived on.
    pub fn channel(&self) -> &str {
        self.channel
    }

    /// The renderer that sent it with [`crate::IpcRenderer::send_to`] (Electron's
    /// `event.senderId`), or `None` if main sent it.
    pub fn sender_id(&self) -> Option<u32> {
        (self.from != 0).then_some(self.from)
    }
}

pub(crate) type RendererListener = dyn Fn(&IpcRendererEvent<'_>, &[u8]) + Send + Sync;

/// A renderer-side handler of main's `invoke`, its value written into the
/// buffer it is given and its error turned into text.
pub(crate) type RendererHandler = dyn Fn(&IpcRendererEvent<'_>, &[u8], &mut Vec<u8>) -> std::result::Result<(), String>
    + Send
    + Sync;
