//! The error-reply format: why a call failed in main, as the payload of an
//! `ErrorReply` record. Encoded and decoded only here.

use crate::error::Error;

/// Why a sync call failed in main, as carried by an `ErrorReply` record:
/// one code byte, then UTF-8 detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RemoteFailure {
    NoListener = 1,
    NoReturnValue = 2,
    HandlerPanicked = 3,
    /// Detail: the value's length and the ring's limit, as two `u64` LE.
    ReturnValueTooLarge = 4,
    NoHandler = 5,
    /// Detail: the handler's error text.
    HandlerFailed = 6,
}

impl RemoteFailure {
    /// The payload of an error reply for this failure: its code, then
    /// `detail` (UTF-8 text, or the two words of `ReturnValueTooLarge`).
    pub fn encode(self, detail: &[u8]) -> Vec<u8> {
        let mut payload = Vec::with_capacity(1 + detail.len());
        payload.push(self as u8);
        payload.extend_from_slice(detail);
        payload
    }

    /// [`Self::encode`] of a text detail cut (at a character boundary) so
    /// that the payload fits `max` bytes, and 64 KiB at most: a longer
    /// explanation helps nobody, and an answer too long to send would leave
    /// its caller without any.
    pub fn encode_text(self, detail: &str, max: usize) -> Vec<u8> {
        let mut end = detail.len().min(max.saturating_sub(1)).min(64 << 10);
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        self.encode(&detail.as_bytes()[..end])
    }

    /// The payload of a `ReturnValueTooLarge` error reply.
    pub fn too_large(len: usize, max: usize) -> Vec<u8> {
        let mut words = [0u8; 16];
        words[..8].copy_from_slice(&(len as u64).to_le_bytes());
        words[8..].copy_from_slice(&(max as u64).to_le_bytes());
        RemoteFailure::ReturnValueTooLarge.encode(&words)
    }

    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => RemoteFailure::NoListener,
            2 => RemoteFailure::NoReturnValue,
            3 => RemoteFailure::HandlerPanicked,
            4 => RemoteFailure::ReturnValueTooLarge,
            5 => RemoteFailure::NoHandler,
            6 => RemoteFailure::HandlerFailed,
            _ => return None,
        })
    }

    /// Turns an error reply's payload into the caller's [`Error`].
    pub fn decode(payload: &[u8], channel: &str) -> Option<Error> {
        let (&code, detail) = payload.split_first()?;
        let channel = channel.to_owned();
        Some(match RemoteFailure::from_u8(code)? {
            RemoteFailure::NoListener => Error::NoListener { channel },
            RemoteFailure::NoReturnValue => Error::NoReturnValue { channel },
            RemoteFailure::HandlerPanicked => Error::HandlerPanicked {
                channel,
                message: String::from_utf8_lossy(detail).into_owned(),
            },
            RemoteFailure::NoHandler => Error::NoHandler { channel },
            RemoteFailure::HandlerFailed => Error::HandlerFailed {
                channel,
                message: String::from_utf8_lossy(detail).into_owned(),
            },
            RemoteFailure::ReturnValueTooLarge => {
                let word = |i: usize| -> Option<usize> {
                    let b: [u8; 8] = detail.get(i..i + 8)?.try_into().ok()?;
                    usize::try_from(u64::from_le_bytes(b)).ok()
                };
                Error::MessageTooLarge {
                    len: word(0)?,
                    max: word(8)?,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_decodes_to_its_error() {
        let ch = "ch";
        let decode = |p: Vec<u8>| RemoteFailure::decode(&p, ch).unwrap().to_string();
        assert!(decode(RemoteFailure::NoListener.encode(b"")).contains("no listener"));
        assert!(decode(RemoteFailure::NoHandler.encode(b"")).contains("No handler"));
        let failed = RemoteFailure::decode(&RemoteFailure::HandlerFailed.encode(b"oops"), ch);
        assert!(matches!(failed, Some(Error::HandlerFailed { message, .. }) if message == "oops"));
        let large = RemoteFailure::decode(&RemoteFailure::too_large(10, 4), ch);
        assert!(matches!(
            large,
            Some(Error::MessageTooLarge { len: 10, max: 4 })
        ));
        let cut = RemoteFailure::HandlerFailed.encode_text("héllo", 3);
        assert_eq!(cut, [6, b'h']);
        assert!(RemoteFailure::decode(&[], ch).is_none());
        assert!(RemoteFailure::decode(&[99], ch).is_none());
        assert!(
            RemoteFailure::decode(&RemoteFailure::ReturnValueTooLarge.encode(b"short"), ch)
                .is_none()
        );
    }
}
