//! Status codes, the per-thread last error message, and the guard that keeps
//! panics from crossing into C.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a call returned. `RINGIPC_STATUS_OK` (0) is success; for every other
/// value, `ringipc_last_error()` on the same thread holds a message.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ringipc_status {
    /// Success.
    Ok = 0,
    /// A sync message named a channel with no listener in main.
    NoListener,
    /// Main's listeners ran but none set a return value.
    NoReturnValue,
    /// A listener in main panicked (a Rust listener; C listeners cannot).
    HandlerPanicked,
    /// An invoke named a channel with no handler.
    NoHandler,
    /// The handler failed; the message carries its error text.
    HandlerFailed,
    /// A second handler for one channel.
    HandlerExists,
    /// The other process is gone, or main disconnected this renderer, or
    /// main has shut down.
    Disconnected,
    /// A deadline passed, or nothing arrived in time.
    Timeout,
    /// The ring is full (non-blocking sends only).
    Full,
    /// The message is larger than main allows.
    MessageTooLarge,
    /// A channel name that is empty or longer than 255 bytes.
    InvalidChannel,
    /// This process was not started by `ringipc_main_spawn`, or it is
    /// already connected.
    NotARenderer,
    /// The other side broke the protocol.
    Protocol,
    /// A call this configuration does not allow, such as
    /// `ringipc_main_dispatch` on a main with its own dispatcher thread.
    WrongMode,
    /// An operating-system call failed.
    Io,
    /// A NULL pointer where one is required, a string that is not UTF-8, or
    /// a length that cannot be right.
    InvalidArgument,
    /// The caller's buffer is too small for the reply; the length it needs
    /// was written to the length out-parameter.
    BufferTooSmall,
    /// A bug inside ringipc panicked; the panic was stopped at the boundary.
    Panic,
    /// Any other failure.
    Other,
}

/// A failure on its way to C: a status and the text `ringipc_last_error`
/// will return.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: ringipc_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: ringipc_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(ringipc_status::InvalidArgument, message)
    }
}

impl From<ringipc::Error> for Failure {
    fn from(e: ringipc::Error) -> Failure {
        use ringipc::Error as E;
        use ringipc_status as S;
        let status = match &e {
            E::NoListener { .. } => S::NoListener,
            E::NoReturnValue { .. } => S::NoReturnValue,
            E::HandlerPanicked { .. } => S::HandlerPanicked,
            E::NoHandler { .. } => S::NoHandler,
            E::HandlerFailed { .. } => S::HandlerFailed,
            E::HandlerExists { .. } => S::HandlerExists,
            E::Disconnected => S::Disconnected,
            E::Timeout => S::Timeout,
            E::Full { .. } => S::Full,
            E::MessageTooLarge { .. } => S::MessageTooLarge,
            E::InvalidChannel { .. } => S::InvalidChannel,
            E::NotARenderer(_) => S::NotARenderer,
            E::Protocol(_) => S::Protocol,
            E::WrongMode(_) => S::WrongMode,
            // Main's own checks of its configuration, for instance.
            E::Io(io) if io.kind() == std::io::ErrorKind::InvalidInput => S::InvalidArgument,
            E::Io(_) => S::Io,
            _ => S::Other,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn remember(message: &str) {
    // A NUL inside a message (a handler's error text may hold one) would
    // end the C string early; it becomes a visible escape instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: during thread-local teardown there is nowhere to keep it.
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = text);
}

/// Runs one exported function's body: its failure, or a panic, becomes a
/// status and the thread's last error; nothing unwinds into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> ringipc_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ringipc_status::Ok,
        Ok(Err(failure)) => {
            remember(&failure.message);
            failure.status
        }
        Err(panic) => {
            let what = panic_text(panic.as_ref());
            remember(&format!("ringipc panicked (a bug): {what}"));
            ringipc_status::Panic
        }
    }
}

/// [`guard`] for functions that return a value rather than a status:
/// `fallback` when the body fails or panics.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    let mut value = None;
    let status = guard(|| {
        value = Some(body()?);
        Ok(())
    });
    match status {
        ringipc_status::Ok => value.unwrap_or(fallback),
        _ => fallback,
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// The message of the last call on this thread that did not return
/// `RINGIPC_STATUS_OK`: a NUL-terminated UTF-8 string owned by ringipc, valid
/// until the next failing call on this thread. Empty if none failed yet.
#[unsafe(no_mangle)]
pub extern "C" fn ringipc_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|last| last.try_borrow().map(|text| text.as_ptr()).ok())
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

/// A status's name, such as `"RINGIPC_STATUS_TIMEOUT"`: a static string;
/// `"RINGIPC_STATUS_UNKNOWN"` for a value this library does not define.
#[unsafe(no_mangle)]
pub extern "C" fn ringipc_status_name(status: c_int) -> *const c_char {
    // An int, not the enum: C may pass any value, and an out-of-range enum
    // would be undefined behaviour in Rust.
    use ringipc_status as S;
    const ALL: [ringipc_status; 20] = [
        S::Ok,
        S::NoListener,
        S::NoReturnValue,
        S::HandlerPanicked,
        S::NoHandler,
        S::HandlerFailed,
        S::HandlerExists,
        S::Disconnected,
        S::Timeout,
        S::Full,
        S::MessageTooLarge,
        S::InvalidChannel,
        S::NotARenderer,
        S::Protocol,
        S::WrongMode,
        S::Io,
        S::InvalidArgument,
        S::BufferTooSmall,
        S::Panic,
        S::Other,
    ];
    let Some(&status) = ALL.iter().find(|s| **s as c_int == status) else {
        return c"RINGIPC_STATUS_UNKNOWN".as_ptr();
    };
    let name: &'static std::ffi::CStr = match status {
        S::Ok => c"RINGIPC_STATUS_OK",
        S::NoListener => c"RINGIPC_STATUS_NO_LISTENER",
        S::NoReturnValue => c"RINGIPC_STATUS_NO_RETURN_VALUE",
        S::HandlerPanicked => c"RINGIPC_STATUS_HANDLER_PANICKED",
        S::NoHandler => c"RINGIPC_STATUS_NO_HANDLER",
        S::HandlerFailed => c"RINGIPC_STATUS_HANDLER_FAILED",
        S::HandlerExists => c"RINGIPC_STATUS_HANDLER_EXISTS",
        S::Disconnected => c"RINGIPC_STATUS_DISCONNECTED",
        S::Timeout => c"RINGIPC_STATUS_TIMEOUT",
        S::Full => c"RINGIPC_STATUS_FULL",
        S::MessageTooLarge => c"RINGIPC_STATUS_MESSAGE_TOO_LARGE",
        S::InvalidChannel => c"RINGIPC_STATUS_INVALID_CHANNEL",
        S::NotARenderer => c"RINGIPC_STATUS_NOT_A_RENDERER",
        S::Protocol => c"RINGIPC_STATUS_PROTOCOL",
        S::WrongMode => c"RINGIPC_STATUS_WRONG_MODE",
        S::Io => c"RINGIPC_STATUS_IO",
        S::InvalidArgument => c"RINGIPC_STATUS_INVALID_ARGUMENT",
        S::BufferTooSmall => c"RINGIPC_STATUS_BUFFER_TOO_SMALL",
        S::Panic => c"RINGIPC_STATUS_PANIC",
        S::Other => c"RINGIPC_STATUS_OTHER",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, ringipc_status::Panic);
        // SAFETY: ringipc_last_error returns a valid NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(ringipc_last_error()) };
        assert!(text.to_str().unwrap().contains("boom"), "{text:?}");
    }

    #[test]
    fn a_nul_in_a_message_is_escaped_not_cut() {
        let status = guard(|| Err(Failure::new(ringipc_status::HandlerFailed, "a\0b")));
        assert_eq!(status, ringipc_status::HandlerFailed);
        // SAFETY: as above.
        let text = unsafe { std::ffi::CStr::from_ptr(ringipc_last_error()) };
        assert_eq!(text.to_str().unwrap(), "a\\0b");
    }
}
