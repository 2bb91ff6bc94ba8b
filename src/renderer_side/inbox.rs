//! The inbox: what main sent for the receiver thread (or a pumping host),
//! packed back to back in one buffer — messages, and main's `invoke`s to
//! answer. Each entry is
//! `[kind: u8][channel_len: u8][payload_len: u32 LE][tag: u64 LE][channel][payload]`,
//! where `tag` is, for a message, the renderer main forwarded it from (0:
//! main itself), and for an invoke, main's call id. Written and read only here.

use crate::wire::record::{Kind, RecordHeader};

/// Bytes before each entry's channel: kind, channel length, payload length, tag.
pub(crate) const PREFIX: usize = 14;

/// Writes the prefix of the record `h` heads into `inbox[at..at + PREFIX]`.
pub(crate) fn write_prefix(inbox: &mut [u8], at: usize, h: &RecordHeader) {
    let prefix = &mut inbox[at..at + PREFIX];
    prefix[0] = h.kind;
    prefix[1] = h.channel_len;
    prefix[2..6].copy_from_slice(&h.payload_len.to_le_bytes());
    prefix[6..].copy_from_slice(&h.tag.to_le_bytes());
}

/// Appends the record `h` heads, whose channel and payload are `body`.
pub(crate) fn push(inbox: &mut Vec<u8>, h: &RecordHeader, body: &[u8]) {
    let at = inbox.len();
    inbox.resize(at + PREFIX, 0);
    write_prefix(inbox, at, h);
    inbox.extend_from_slice(body);
}

/// One entry of an inbox batch.
pub(crate) struct Entry<'a> {
    pub channel: &'a [u8],
    pub payload: &'a [u8],
    pub what: What,
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum What {
    /// A message, forwarded from this renderer (0: main's own).
    Message { from: u32 },
    /// Main's `invoke`, to answer with this call id.
    Invoke { call_id: u64 },
}

impl Entry<'_> {
    /// Bytes the entry takes in the batch.
    pub fn len(&self) -> usize {
        PREFIX + self.channel.len() + self.payload.len()
    }
}

/// Iterates over an inbox batch.
pub(crate) fn entries(mut batch: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    std::iter::from_fn(move || {
        let (&kind, rest) = batch.split_first()?;
        let (&ch_len, rest) = rest.split_first()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let (tag, rest) = rest.split_first_chunk::<8>()?;
        let (channel, rest) = rest.split_at(ch_len as usize);
        let (payload, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        batch = rest;
        let tag = u64::from_le_bytes(*tag);
        let what = if kind == Kind::Invoke as u8 {
            What::Invoke { call_id: tag }
        } else {
            // Main puts the sender's id in a forwarded message's tag.
            What::Message {
                from: u32::try_from(tag).unwrap_or(0),
            }
        };
        Some(Entry {
            channel,
            payload,
            what,
        })
    })
}
