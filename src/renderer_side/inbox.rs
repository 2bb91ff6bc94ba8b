//! The inbox: messages from main waiting for the receiver thread (or a
//! pumping host), packed back to back in one buffer. Each entry is
//! `[channel_len: u8][payload_len: u32 LE][from: u32 LE][channel][payload]`,
//! where `from` is the renderer main forwarded it from (0: main itself).
//! Written and read only here.

use crate::wire::record::RecordHeader;

/// Bytes before each entry's channel: channel length, payload length, sender.
pub(crate) const PREFIX: usize = 9;

/// Writes the prefix of the message `h` heads into `inbox[at..at + PREFIX]`.
pub(crate) fn write_prefix(inbox: &mut [u8], at: usize, h: &RecordHeader) {
    let prefix = &mut inbox[at..at + PREFIX];
    prefix[0] = h.channel_len;
    prefix[1..5].copy_from_slice(&h.payload_len.to_le_bytes());
    prefix[5..].copy_from_slice(&forwarded_from(h).to_le_bytes());
}

/// Appends the message `h` heads, whose channel and payload are `body`.
pub(crate) fn push(inbox: &mut Vec<u8>, h: &RecordHeader, body: &[u8]) {
    let at = inbox.len();
    inbox.resize(at + PREFIX, 0);
    write_prefix(inbox, at, h);
    inbox.extend_from_slice(body);
}

/// Which renderer a message from main was forwarded from: main puts its id
/// in the tag of a message (0: main's own message).
fn forwarded_from(h: &RecordHeader) -> u32 {
    u32::try_from(h.tag).unwrap_or(0)
}

/// One message in an inbox batch.
pub(crate) struct Entry<'a> {
    pub channel: &'a [u8],
    pub payload: &'a [u8],
    /// The renderer it was forwarded from; 0 for main.
    pub from: u32,
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
        let (&ch_len, rest) = batch.split_first()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let (from, rest) = rest.split_first_chunk::<4>()?;
        let (channel, rest) = rest.split_at(ch_len as usize);
        let (payload, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        batch = rest;
        Some(Entry {
            channel,
            payload,
            from: u32::from_le_bytes(*from),
        })
    })
}
