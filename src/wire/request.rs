//! A request record from a renderer, decoded into what main's dispatcher
//! acts on.

use super::record::{Kind, RecordHeader, Violation};

/// What a renderer asks of main.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asks {
    /// `send`: nothing back.
    Message,
    /// `send_sync`: listeners set a return value.
    Sync,
    /// `invoke`: the channel's handler returns a value or an error.
    Invoke,
    /// `send_to`: forward to the renderer with this id, if policy allows.
    SendTo(u64),
    /// The answer to main's `invoke` with this call id: a value, or (`error`)
    /// an encoded failure.
    Answer { error: bool },
}

/// A record from a renderer, decoded into what main's dispatcher acts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    pub asks: Asks,
    pub channel: &'a str,
    pub payload: &'a [u8],
    pub call_id: u64,
}

impl<'a> Request<'a> {
    /// Decodes a record popped from a request ring: its header (already
    /// validated for the ring) and its body, the channel then the payload.
    pub fn decode(header: &RecordHeader, body: &'a [u8]) -> Result<Request<'a>, Violation> {
        let asks = match Kind::from_u8(header.kind) {
            Some(Kind::Message) => Asks::Message,
            Some(Kind::SyncRequest) => Asks::Sync,
            Some(Kind::Invoke) => Asks::Invoke,
            Some(Kind::SendTo) => Asks::SendTo(header.tag),
            Some(Kind::Reply) => Asks::Answer { error: false },
            Some(Kind::ErrorReply) => Asks::Answer { error: true },
            _ => return Err(Violation::UnexpectedKind(header.kind)),
        };
        let (channel, payload) =
            body.split_at_checked(header.channel_len as usize)
                .ok_or(Violation::ChannelLen {
                    kind: header.kind,
                    len: header.channel_len,
                })?;
        let channel = std::str::from_utf8(channel).map_err(|_| Violation::ChannelNotUtf8)?;
        Ok(Request {
            asks,
            channel,
            payload,
            call_id: header.tag,
        })
    }
}
