//! The wire format of one record in a ring, and its validation.
//!
//! A record is a [`RecordHeader`] followed by the channel name and the payload,
//! padded to [`RECORD_ALIGN`]. Records may wrap around the end of the ring; both
//! sides copy them in one or two pieces, except the header's first word, the
//! commit word, which is always whole (records start 8-aligned in a ring whose
//! size is a multiple of 8) because it is written and read atomically.

use bytemuck::{Pod, Zeroable};
use std::fmt;

/// Records start at multiples of this many bytes.
pub(crate) const RECORD_ALIGN: usize = 8;
/// Size of the fixed part of every record.
pub(crate) const HEADER_LEN: usize = size_of::<RecordHeader>();
/// Size of the commit word at the start of every record.
pub(crate) const COMMIT_LEN: usize = size_of::<u64>();

/// [`RecordHeader::flags`]: more fragments of this message follow.
pub(crate) const MORE: u16 = 1;
/// [`RecordHeader::flags`]: this record continues the message the previous
/// record began (it has no channel of its own).
pub(crate) const CONTINUES: u16 = 2;
/// [`RecordHeader::flags`], with [`CONTINUES`]: the message in progress is
/// abandoned (its sender gave up); drop what arrived of it.
pub(crate) const ABORT: u16 = 4;
const KNOWN_FLAGS: u16 = MORE | CONTINUES | ABORT;
/// Ring bytes an abort record takes, with the commit word after it.
pub(crate) const ABORT_RECORD: usize = HEADER_LEN + COMMIT_LEN;

/// The fixed-size start of a record, copied out of the ring before it is trusted.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct RecordHeader {
    /// The record's ring position plus one, stored last with Release: the
    /// consumer knows a record is complete when the word at its `head` equals
    /// `head + 1`. Bytes left over from earlier laps never match, because the
    /// producer zeroes the next record's commit word before committing this one.
    pub commit: u64,
    /// Bytes of payload after the channel name.
    pub payload_len: u32,
    /// A [`Kind`] as a number.
    pub kind: u8,
    /// Bytes of channel name right after the header (0 for replies).
    pub channel_len: u8,
    /// Fragmentation bits ([`MORE`], [`CONTINUES`], [`ABORT`]); the rest are
    /// reserved and must be zero.
    pub flags: u16,
    /// What the record is about, by kind: the call id for a sync request, an
    /// invoke and their replies (matching them up); the target renderer's id
    /// for a `SendTo`; for a message from main, the renderer it was forwarded
    /// from (0: main's own). Zero for a renderer's plain message.
    pub tag: u64,
}

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Fire-and-forget message on a channel, either direction.
    Message = 1,
    /// Renderer → main; main answers with `Reply` or `ErrorReply` of the same call id.
    SyncRequest = 2,
    /// The return value of a call (main → renderer for its `send_sync` and
    /// `invoke`; renderer → main for main's `invoke`).
    Reply = 3,
    /// A call failed; the payload is an encoded `RemoteFailure`. Either way, as `Reply`.
    ErrorReply = 4,
    /// A call to a handler (`invoke`), answered like `SyncRequest`; either
    /// way: a renderer invokes main's handlers, main a renderer's.
    Invoke = 5,
    /// Renderer → main: a message for another renderer (`send_to`); the call
    /// id field holds the target's id.
    SendTo = 6,
}

impl Kind {
    /// Whether someone blocks until this record is read: a call, or the
    /// answer to one (not a message, whose stream cares for throughput).
    pub fn is_waited_for(self) -> bool {
        matches!(
            self,
            Kind::SyncRequest | Kind::Reply | Kind::ErrorReply | Kind::Invoke
        )
    }

    pub fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Message,
            2 => Kind::SyncRequest,
            3 => Kind::Reply,
            4 => Kind::ErrorReply,
            5 => Kind::Invoke,
            6 => Kind::SendTo,
            _ => return None,
        })
    }

    fn has_channel(self) -> bool {
        matches!(
            self,
            Kind::Message | Kind::SyncRequest | Kind::Invoke | Kind::SendTo
        )
    }
}

/// Ring bytes a record needs to be pushed: its own length and the next
/// record's commit word, which the producer zeroes. Never zero.
pub(crate) fn ring_bytes(channel_len: usize, payload_len: usize) -> usize {
    (record_len(channel_len as u64, payload_len as u64) as usize).saturating_add(COMMIT_LEN)
}

/// Total bytes a record occupies in the ring, padding included. Computed in
/// `u64` so that no length a peer claims can overflow, whatever the word size.
pub(crate) fn record_len(channel_len: u64, payload_len: u64) -> u64 {
    (HEADER_LEN as u64 + channel_len + payload_len).next_multiple_of(RECORD_ALIGN as u64)
}

/// Why a record or ring position was rejected. The text becomes the reason a
/// renderer is disconnected with, so it names the offending values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// The peer published a position outside what the protocol allows.
    Position {
        what: &'static str,
        value: u64,
        ours: u64,
        capacity: u64,
    },
    UnknownKind(u8),
    NonZeroFlags(u16),
    /// Channel length is zero where a channel is required or non-zero where not.
    ChannelLen {
        kind: u8,
        len: u8,
    },
    /// The record claims more bytes than any record can have in this ring.
    TooLong {
        len: u64,
        max: u64,
    },
    /// A record kind this side never accepts from this peer.
    UnexpectedKind(u8),
    ChannelNotUtf8,
    /// An error reply whose payload is not a valid encoding.
    BadErrorReply,
    /// Fragments that do not make one message.
    Fragment(&'static str),
    /// The reader refused the memory a message needs (its budget, or the
    /// allocator, said no); the reader knows why.
    Refused,
    /// A request or answer on the call line (`call_line.rs`) that breaks its
    /// format.
    CallLine(&'static str),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Position {
                what,
                value,
                ours,
                capacity,
            } => write!(
                f,
                "{what} moved to {value}, impossible against our position {ours} and capacity {capacity}"
            ),
            Violation::UnknownKind(k) => write!(f, "record of unknown kind {k}"),
            Violation::NonZeroFlags(x) => write!(f, "record flags {x:#x} are reserved"),
            Violation::ChannelLen { kind, len } => {
                write!(f, "record of kind {kind} with channel length {len}")
            }
            Violation::TooLong { len, max } => write!(
                f,
                "record claims {len} bytes, but records in this ring are at most {max}"
            ),
            Violation::UnexpectedKind(k) => {
                write!(f, "record of kind {k} is not allowed in this direction")
            }
            Violation::ChannelNotUtf8 => write!(f, "channel name is not UTF-8"),
            Violation::BadErrorReply => write!(f, "malformed error reply"),
            Violation::Fragment(why) => write!(f, "fragmented message: {why}"),
            Violation::Refused => write!(f, "memory for the message was refused"),
            Violation::CallLine(why) => write!(f, "call line: {why}"),
        }
    }
}

impl RecordHeader {
    pub fn new(kind: Kind, channel_len: usize, payload_len: usize, tag: u64) -> Self {
        debug_assert!(channel_len <= u8::MAX as usize && payload_len <= u32::MAX as usize);
        RecordHeader {
            commit: 0,
            payload_len: payload_len as u32,
            kind: kind as u8,
            channel_len: channel_len as u8,
            flags: 0,
            tag,
        }
    }

    /// The same header with these fragmentation `flags`.
    pub fn with_flags(self, flags: u16) -> Self {
        RecordHeader { flags, ..self }
    }

    /// Validates a header copied out of the ring, given the longest record the
    /// ring can hold. Returns its kind and total length in the ring, which then
    /// fits in `usize` on any target because it is at most `max_len`.
    pub fn validate(&self, max_len: u64) -> Result<(Kind, usize), Violation> {
        let kind = Kind::from_u8(self.kind).ok_or(Violation::UnknownKind(self.kind))?;
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(Violation::NonZeroFlags(self.flags));
        }
        if self.flags & ABORT != 0 && (self.flags != CONTINUES | ABORT || self.payload_len != 0) {
            return Err(Violation::Fragment("an abort that carries data or more"));
        }
        // A continuation carries no channel; a first or only record has one
        // exactly when its kind does.
        let wants_channel = kind.has_channel() && self.flags & CONTINUES == 0;
        if wants_channel != (self.channel_len != 0) {
            return Err(Violation::ChannelLen {
                kind: self.kind,
                len: self.channel_len,
            });
        }
        let len = record_len(self.channel_len.into(), self.payload_len.into());
        if len > max_len {
            return Err(Violation::TooLong { len, max: max_len });
        }
        Ok((kind, len as usize))
    }

    /// Bytes of channel plus payload after the header. Only meaningful after
    /// [`Self::validate`] accepted the header, which bounds it by the ring.
    pub fn body_len(&self) -> usize {
        self.channel_len as usize + self.payload_len as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_aligned_and_never_overflow() {
        assert_eq!(HEADER_LEN, 24);
        assert_eq!(record_len(0, 0), 24);
        assert_eq!(record_len(1, 0), 32);
        assert_eq!(record_len(4, 4), 32);
        let most = record_len(255, u32::MAX.into());
        assert_eq!(most % RECORD_ALIGN as u64, 0);
        assert!(most > u32::MAX as u64);
    }

    #[test]
    fn validation_rejects_each_bad_field() {
        let good = RecordHeader::new(Kind::Message, 4, 10, 0);
        assert_eq!(good.validate(40), Ok((Kind::Message, 40)));
        assert_eq!(
            good.validate(39),
            Err(Violation::TooLong { len: 40, max: 39 })
        );
        let mut h = good;
        h.kind = 99;
        assert_eq!(h.validate(1 << 20), Err(Violation::UnknownKind(99)));
        let mut h = good;
        h.flags = 8;
        assert!(matches!(
            h.validate(1 << 20),
            Err(Violation::NonZeroFlags(8))
        ));
        let mut h = good;
        h.flags = MORE;
        assert!(h.validate(1 << 20).is_ok(), "a first fragment");
        h.flags = CONTINUES;
        assert!(
            matches!(h.validate(1 << 20), Err(Violation::ChannelLen { .. })),
            "a continuation with a channel"
        );
        h.channel_len = 0;
        assert!(h.validate(1 << 20).is_ok(), "a last fragment");
        h.flags = CONTINUES | ABORT;
        assert!(matches!(h.validate(1 << 20), Err(Violation::Fragment(_))));
        h.payload_len = 0;
        assert!(h.validate(1 << 20).is_ok(), "an abort");
        h.flags = ABORT;
        assert!(matches!(h.validate(1 << 20), Err(Violation::Fragment(_))));
        let mut h = good;
        h.channel_len = 0;
        assert!(matches!(
            h.validate(1 << 20),
            Err(Violation::ChannelLen { .. })
        ));
        let h = RecordHeader::new(Kind::Reply, 0, 3, 9);
        assert_eq!(h.validate(32), Ok((Kind::Reply, 32)));
        let mut h = h;
        h.channel_len = 2;
        assert!(matches!(
            h.validate(1 << 20),
            Err(Violation::ChannelLen { .. })
        ));
        let huge = RecordHeader {
            payload_len: u32::MAX,
            channel_len: 255,
            ..good
        };
        assert!(matches!(
            huge.validate(1 << 30),
            Err(Violation::TooLong { .. })
        ));
    }
}
