//! ringipc's errors as JavaScript sees them: a Node-style `code` and the
//! library's message. The native side throws `"<code>\0<message>"`, and
//! `lib/errors.js` turns that into an `Error` with `.code`.

use ringipc::Error;

/// The `code` of each ringipc error, in Node's `ERR_*` style.
pub fn code(e: &Error) -> &'static str {
    match e {
        Error::NoListener { .. } => "ERR_NO_LISTENER",
        Error::NoReturnValue { .. } => "ERR_NO_RETURN_VALUE",
        Error::HandlerPanicked { .. } => "ERR_HANDLER_PANICKED",
        Error::NoHandler { .. } => "ERR_NO_HANDLER",
        Error::HandlerFailed { .. } => "ERR_HANDLER_FAILED",
        Error::HandlerExists { .. } => "ERR_HANDLER_EXISTS",
        Error::Disconnected => "ERR_DISCONNECTED",
        Error::Timeout => "ERR_TIMEOUT",
        Error::Full { .. } => "ERR_FULL",
        Error::MessageTooLarge { .. } => "ERR_MESSAGE_TOO_LARGE",
        Error::InvalidChannel { .. } => "ERR_INVALID_CHANNEL",
        Error::NotARenderer(_) => "ERR_NOT_A_RENDERER",
        Error::Protocol(_) => "ERR_PROTOCOL",
        Error::Codec(_) => "ERR_CODEC",
        Error::WrongMode(_) => "ERR_WRONG_MODE",
        _ => "ERR_IO",
    }
}

/// The text a call's failure carries on its own: a handler's message
/// without ringipc's wording around it.
pub fn detail(e: &Error) -> String {
    match e {
        Error::HandlerFailed { message, .. } | Error::HandlerPanicked { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    }
}

/// Throws `e` into JavaScript.
pub fn to_js(e: Error) -> napi::Error {
    napi::Error::from_reason(format!("{}\0{e}", code(&e)))
}
