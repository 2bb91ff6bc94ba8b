//! The one error type of the crate.

use std::fmt;
use std::io;

/// Everything that can go wrong in ringipc.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A sync call named a channel on which main has no listener. Electron leaves
    /// the renderer blocked in this case; ringipc answers at once.
    NoListener {
        /// The channel the call was sent on.
        channel: String,
    },
    /// Main's listeners ran but none of them set a return value.
    NoReturnValue {
        /// The channel the call was sent on.
        channel: String,
    },
    /// A listener in main panicked while handling the call.
    HandlerPanicked {
        /// The channel the call was sent on.
        channel: String,
        /// The panic message, when it was a string.
        message: String,
    },
    /// An `invoke` named a channel with no handler in main.
    NoHandler {
        /// The channel the call was made on.
        channel: String,
    },
    /// Main's handler for an `invoke` returned an error; its text is kept.
    HandlerFailed {
        /// The channel the call was made on.
        channel: String,
        /// The handler's error, as its `Display` wrote it.
        message: String,
    },
    /// [`crate::IpcMain::handle`] on a channel that already has a handler.
    HandlerExists {
        /// The channel.
        channel: String,
    },
    /// The other process is gone, or main disconnected this renderer.
    Disconnected,
    /// A blocking call's deadline passed.
    Timeout,
    /// [`crate::IpcRenderer::try_send`] found no room: the ring to main is
    /// full (or another thread is waiting for room in it). Nothing was sent;
    /// the caller still holds the message and may retry, wait, or drop it.
    Full {
        /// Bytes of ring the message needs (its record).
        needed: usize,
        /// Bytes free when it was tried (0 if another thread held the ring).
        free: usize,
    },
    /// The message does not fit in the ring.
    MessageTooLarge {
        /// Payload length asked for.
        len: usize,
        /// Largest payload this channel name allows on this ring.
        max: usize,
    },
    /// A channel name that is empty or longer than 255 bytes.
    InvalidChannel {
        /// Length of the offending name in bytes.
        len: usize,
    },
    /// This process was not started by [`crate::IpcMain::spawn`], or the
    /// invitation it inherited is unusable.
    NotARenderer(String),
    /// Main would not admit this process ([`crate::IpcRenderer::connect`]):
    /// its admission policy refused it, or it was busy or shutting down.
    Refused(String),
    /// The other side sent something the protocol does not allow.
    Protocol(String),
    /// A value could not be encoded, or a payload is not the value asked for
    /// (the `value` module of the `serde` feature).
    Codec(String),
    /// A call that this configuration does not allow, e.g.
    /// [`crate::IpcMain::dispatch`] when main runs its own dispatcher thread.
    WrongMode(&'static str),
    /// An operating-system call failed while setting up.
    Io(io::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoListener { channel } => {
                write!(
                    f,
                    "no listener in main for sync message on channel '{channel}'"
                )
            }
            Error::NoReturnValue { channel } => write!(
                f,
                "main's listeners for channel '{channel}' ran but none set a return value"
            ),
            Error::HandlerPanicked { channel, message } => {
                write!(
                    f,
                    "main's listener for channel '{channel}' panicked: {message}"
                )
            }
            Error::NoHandler { channel } => write!(f, "No handler registered for '{channel}'"),
            Error::HandlerFailed { channel, message } => {
                write!(f, "Error invoking remote method '{channel}': {message}")
            }
            Error::HandlerExists { channel } => {
                write!(f, "Attempted to register a second handler for '{channel}'")
            }
            Error::Disconnected => write!(f, "the other process disconnected"),
            Error::Timeout => write!(f, "timed out"),
            Error::Full { needed, free } => write!(
                f,
                "the ring to main is full: the message needs {needed} bytes, {free} are free"
            ),
            Error::MessageTooLarge { len, max } => write!(
                f,
                "message of {len} bytes is larger than the {max} bytes that fit in the ring"
            ),
            Error::InvalidChannel { len } => write!(
                f,
                "channel names must be 1 to 255 bytes long, this one is {len} bytes"
            ),
            Error::NotARenderer(why) => write!(f, "cannot connect to main: {why}"),
            Error::Refused(why) => write!(f, "main did not admit this process: {why}"),
            Error::Protocol(why) => write!(f, "the other side broke the protocol: {why}"),
            Error::Codec(why) => write!(f, "cannot encode or decode the value: {why}"),
            Error::WrongMode(why) => write!(f, "not in this mode: {why}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Checks a channel name's length: 1 to 255 bytes.
pub(crate) fn check_channel(channel: &str) -> Result<()> {
    if channel.is_empty() || channel.len() > u8::MAX as usize {
        return Err(Error::InvalidChannel { len: channel.len() });
    }
    Ok(())
}
