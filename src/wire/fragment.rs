//! Messages larger than a ring, and calls and answers of 32 KiB or more
//! ([`PIPELINE_AT`]): splitting on the way in, reassembly on the way out.
//!
//! Such a message goes as a run of records: the first
//! carries the kind, channel and call id with [`MORE`]; each continuation has
//! [`CONTINUES`] (no channel) and [`MORE`] unless it is the last. A producer
//! writes a message's fragments back to back, holding the ring for the whole
//! message, so a consumer only ever has one message in progress; a sender that
//! gives up half way writes a [`CONTINUES`]` | `[`ABORT`] record instead of
//! the rest. The reader enforces all of it, and a length limit, because on
//! main's side the fragments come from a renderer.

use crate::wire::record::{ABORT, CONTINUES, Kind, MORE, RecordHeader, Violation};

/// Payload bytes per fragment of a message too long for one record, for a
/// ring whose largest record payload (with this channel) is `single`: a
/// quarter of it, so that the producer fills one part of the ring while the
/// consumer empties another. (Calls and answers take smaller pieces.)
pub(crate) fn fragment_len(single: usize) -> usize {
    (single / 4).max(1)
}

/// Calls and answers of at least this many payload bytes go in pieces even
/// where one record would hold them: the reader copies each piece out while
/// the writer writes the next, where it would start only once the last
/// byte of a whole record was in. Measured (three interleaved pairs): a 1
/// MiB echo through 4 MiB rings, 150–194 µs whole, 82–92 µs in pieces; 64
/// KiB, 7.2–8.2 against 5.3–6.6 µs. Messages do not: a stream of them
/// overlaps one message's reading with the next one's writing anyway, and
/// in pieces 1 MiB streams through 4 MiB rings measured slower both ways
/// (renderer → main 16.7–17.9 against 25.6–39.1 GiB/s, three pairs; the
/// cause is not known).
pub(crate) const PIPELINE_AT: usize = 32 << 10;

/// The piece length of a `len`-byte call or answer that does not go whole:
/// an eighth of it, between 16 KiB (below which each piece's own costs
/// show) and 256 KiB, and never more than [`fragment_len`].
fn piece_len(len: usize, single: usize) -> usize {
    (len / 8)
        .clamp(16 << 10, 256 << 10)
        .min(fragment_len(single))
}

/// The fragments of a `len`-byte payload, as `(range, flags)` in ring order.
fn fragments(
    len: usize,
    piece: usize,
) -> impl Iterator<Item = (std::ops::Range<usize>, u16)> + Clone {
    let count = len.div_ceil(piece).max(1);
    (0..count).map(move |i| {
        let start = i * piece;
        let end = (start + piece).min(len);
        let mut flags = 0;
        if i > 0 {
            flags |= CONTINUES;
        }
        if i + 1 < count {
            flags |= MORE;
        }
        (start..end, flags)
    })
}

/// One record of a message as a producer writes it: the whole message, or
/// one fragment of it (only the first carries the channel).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece<'a> {
    pub channel: &'a [u8],
    pub payload: &'a [u8],
    /// [`MORE`], [`CONTINUES`], or neither for a whole message.
    pub flags: u16,
}

impl Piece<'_> {
    /// Whether this piece begins its message.
    pub fn is_first(&self) -> bool {
        self.flags & CONTINUES == 0
    }
}

/// Whether a payload of `len` bytes of `kind` goes as one record in a ring
/// whose largest record payload (with its channel) is `single`: if it fits,
/// and, for a call or answer, is shorter than [`PIPELINE_AT`].
pub(crate) fn goes_whole(len: usize, single: usize, kind: Kind) -> bool {
    len <= single && (len < PIPELINE_AT || !kind.is_waited_for())
}

/// The records a message (or call, or answer) of `kind` on `channel` goes
/// as, in ring order, for a ring whose largest record payload with this
/// channel is `single`: the message itself when it [`goes_whole`], else
/// fragments: of [`fragment_len`] bytes for a message, of an eighth of it
/// (16–256 KiB, at most [`fragment_len`]) for a call or answer.
pub(crate) fn pieces<'a>(
    channel: &'a [u8],
    payload: &'a [u8],
    single: usize,
    kind: Kind,
) -> impl Iterator<Item = Piece<'a>> + Clone {
    let piece = if goes_whole(payload.len(), single, kind) {
        payload.len().max(1)
    } else if kind.is_waited_for() {
        piece_len(payload.len(), single)
    } else {
        fragment_len(single)
    };
    fragments(payload.len(), piece).map(move |(range, flags)| Piece {
        channel: if flags & CONTINUES == 0 { channel } else { &[] },
        payload: &payload[range],
        flags,
    })
}

/// What feeding one record to a [`Reassembly`] produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// A whole message: its header (flags cleared, `payload_len` the whole
    /// payload's) and, in the body buffer, its channel and payload.
    Whole(RecordHeader),
    /// A fragment was kept; the message is not complete yet.
    Partial,
    /// The message in progress was abandoned by its sender and dropped.
    Aborted,
}

/// One ring's message in progress, on the reading side.
pub(crate) struct Reassembly {
    partial: Option<Partial>,
    /// Most payload bytes one message may have.
    max_payload: usize,
    /// The `front` of the last message that completed.
    last_front: usize,
}

struct Partial {
    first: RecordHeader,
    /// `front` bytes of the reader's own, then channel then payload so far.
    body: Vec<u8>,
    front: usize,
}

impl Reassembly {
    pub fn new(max_payload: usize) -> Reassembly {
        Reassembly {
            partial: None,
            max_payload,
            last_front: 0,
        }
    }

    /// Whether a message has begun and not yet ended.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }

    /// Heap bytes the message in progress holds.
    pub fn held(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.body.capacity())
    }

    /// Takes one record just popped, with `body` its channel and payload.
    /// When a message completes, `body` holds all of it. A record that is
    /// not fragmented passes straight through, untouched.
    #[inline]
    pub fn feed(&mut self, header: RecordHeader, body: &mut Vec<u8>) -> Result<Fed, Violation> {
        self.feed_within(header, body, &mut |_| true)
    }

    /// [`Self::feed`] that asks `allow` before the message in progress may
    /// hold more heap (with the total it would hold), and fails with
    /// [`Violation::Refused`] if it says no or the allocation fails.
    #[inline]
    pub fn feed_within(
        &mut self,
        header: RecordHeader,
        body: &mut Vec<u8>,
        allow: &mut impl FnMut(usize) -> bool,
    ) -> Result<Fed, Violation> {
        // The common case, on every hot path: a whole record, nothing pending.
        if header.flags == 0 && self.partial.is_none() {
            return Ok(Fed::Whole(header));
        }
        self.feed_fragment(header, body, allow)
    }

    /// [`Self::feed`] of a record whose channel and payload follow `front`
    /// bytes of the reader's own in `body` (the renderer's inbox prefix):
    /// a message that begins here is reassembled behind them, so that the
    /// whole of it can become an inbox entry without another copy. See
    /// [`Self::take_front_of_whole`].
    pub fn feed_behind(
        &mut self,
        header: RecordHeader,
        body: &mut Vec<u8>,
        front: usize,
    ) -> Result<Fed, Violation> {
        if header.flags == 0 && self.partial.is_none() {
            return Ok(Fed::Whole(header));
        }
        self.feed_fragment_behind(header, body, front, &mut |_| true)
    }

    /// How many bytes of the reader's own precede the channel in the body of
    /// the message [`Fed::Whole`] just returned: the `front` of the
    /// [`Self::feed_behind`] that began it, if it came in fragments, else 0.
    /// A reader that uses `feed_behind` calls this after every whole message.
    pub fn take_front_of_whole(&mut self) -> usize {
        std::mem::take(&mut self.last_front)
    }

    #[cold]
    fn feed_fragment(
        &mut self,
        header: RecordHeader,
        body: &mut Vec<u8>,
        allow: &mut impl FnMut(usize) -> bool,
    ) -> Result<Fed, Violation> {
        self.feed_fragment_behind(header, body, 0, allow)
    }

    #[cold]
    fn feed_fragment_behind(
        &mut self,
        header: RecordHeader,
        body: &mut Vec<u8>,
        front: usize,
        allow: &mut impl FnMut(usize) -> bool,
    ) -> Result<Fed, Violation> {
        if self.partial.is_none() {
            if header.flags & CONTINUES != 0 {
                return Err(Violation::Fragment("a continuation without a start"));
            }
            if header.flags & MORE == 0 {
                return Ok(Fed::Whole(header));
            }
            self.check_len(header.payload_len as usize)?;
            if !allow(body.capacity()) {
                return Err(Violation::Refused);
            }
            self.partial = Some(Partial {
                first: header,
                body: std::mem::take(body),
                front,
            });
            return Ok(Fed::Partial);
        }
        let dst = self.admit_continuation(&header, body.len(), allow)?;
        dst.extend_from_slice(body);
        Ok(self.finish_continuation(header, body))
    }

    /// Checks that `header` continues the message in progress, and makes
    /// room for the `added` bytes it carries (asking `allow`, as
    /// [`Self::feed_within`] does). Returns the message's buffer: the caller
    /// appends the record's bytes to it, then calls
    /// [`Self::finish_continuation`]. A reader that copies the record
    /// straight there (`Consumer::pop_continuation`) copies it once.
    pub fn admit_continuation(
        &mut self,
        header: &RecordHeader,
        added: usize,
        allow: &mut impl FnMut(usize) -> bool,
    ) -> Result<&mut Vec<u8>, Violation> {
        let Some(partial) = &mut self.partial else {
            return Err(Violation::Fragment("a continuation without a start"));
        };
        if header.flags & CONTINUES == 0 {
            return Err(Violation::Fragment("a new message inside a fragmented one"));
        }
        if header.kind != partial.first.kind || header.tag != partial.first.tag {
            return Err(Violation::Fragment("a continuation of another message"));
        }
        if header.flags & ABORT != 0 {
            // An abort carries nothing (its header says so, and a popped
            // record's bytes match its header); nothing may be appended.
            if added != 0 {
                return Err(Violation::Fragment("an abort that carries data"));
            }
            return Ok(&mut partial.body);
        }
        let channel_len = partial.front + partial.first.channel_len as usize;
        let payload = partial.body.len() - channel_len + added;
        if payload > self.max_payload {
            return Err(Violation::TooLong {
                len: payload as u64,
                max: self.max_payload as u64,
            });
        }
        // Grow geometrically, but never past what the limit allows: a peer
        // must not make us reserve twice the limit by doubling.
        let needed = partial.body.len() + added;
        if needed > partial.body.capacity() {
            let bound = channel_len + self.max_payload;
            let want = (partial.body.capacity() * 2).clamp(needed, bound.max(needed));
            if !allow(want) {
                return Err(Violation::Refused);
            }
            let more = want - partial.body.len();
            partial
                .body
                .try_reserve_exact(more)
                .map_err(|_| Violation::Refused)?;
        }
        Ok(&mut partial.body)
    }

    /// Ends what [`Self::admit_continuation`] began, once the record's bytes
    /// were appended: the message is still partial, was aborted, or is whole
    /// (then in `body`, with its header as for [`Fed::Whole`]).
    pub fn finish_continuation(&mut self, header: RecordHeader, body: &mut Vec<u8>) -> Fed {
        if header.flags & ABORT != 0 {
            self.partial = None;
            return Fed::Aborted;
        }
        if header.flags & MORE != 0 {
            return Fed::Partial;
        }
        // `admit_continuation` succeeded, so a message is in progress.
        let Partial {
            first,
            body: whole,
            front,
        } = self.partial.take().expect("admitted");
        self.last_front = front;
        let payload = whole.len() - front - first.channel_len as usize;
        *body = whole;
        let mut header = first.with_flags(0);
        // At most `max_payload`, which the configuration keeps within u32.
        header.payload_len = payload as u32;
        Fed::Whole(header)
    }

    fn check_len(&self, payload: usize) -> Result<(), Violation> {
        if payload > self.max_payload {
            return Err(Violation::TooLong {
                len: payload as u64,
                max: self.max_payload as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::record::Kind;

    fn header(kind: Kind, channel: usize, payload: usize, call: u64, flags: u16) -> RecordHeader {
        RecordHeader::new(kind, channel, payload, call).with_flags(flags)
    }

    /// Feeds a message split into pieces of `piece` bytes; returns what came out.
    fn feed_split(r: &mut Reassembly, channel: &[u8], payload: &[u8], piece: usize) -> Vec<Fed> {
        let mut out = Vec::new();
        for (range, flags) in fragments(payload.len(), piece) {
            let first = flags & CONTINUES == 0;
            let mut body = if first { channel.to_vec() } else { Vec::new() };
            body.extend_from_slice(&payload[range.clone()]);
            let ch = if first { channel.len() } else { 0 };
            let h = header(Kind::Message, ch, range.len(), 0, flags);
            let fed = r.feed(h, &mut body).unwrap();
            if let Fed::Whole(h) = &fed {
                assert_eq!(h.payload_len as usize, payload.len());
                assert_eq!(&body[..channel.len()], channel);
                assert_eq!(&body[channel.len()..], payload);
            }
            out.push(fed);
        }
        out
    }

    #[test]
    fn split_and_reassembled_payloads_come_back_whole() {
        let mut r = Reassembly::new(1 << 20);
        for (len, piece) in [
            (0usize, 7usize),
            (1, 7),
            (7, 7),
            (8, 7),
            (1000, 7),
            (4096, 1024),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let fed = feed_split(&mut r, b"chan", &payload, piece);
            assert!(matches!(fed.last(), Some(Fed::Whole(_))), "{len}/{piece}");
            assert!(fed[..fed.len() - 1].iter().all(|f| *f == Fed::Partial));
            assert_eq!(fed.len(), len.div_ceil(piece).max(1));
        }
    }

    #[test]
    fn fragments_cover_the_payload_in_order() {
        let f: Vec<_> = fragments(10, 4).collect();
        assert_eq!(
            f,
            [(0..4, MORE), (4..8, CONTINUES | MORE), (8..10, CONTINUES)]
        );
        assert_eq!(fragments(0, 4).collect::<Vec<_>>(), [(0..0, 0)]);
        let whole: Vec<_> = pieces(b"ch", b"abc", 3, Kind::Message)
            .map(|p| (p.channel, p.payload, p.flags))
            .collect();
        assert_eq!(whole, [(&b"ch"[..], &b"abc"[..], 0)]);
        let split: Vec<_> = pieces(b"ch", &[7; 9], 8, Kind::Message)
            .map(|p| (p.channel.len(), p.payload.len(), p.flags))
            .collect();
        assert_eq!(
            split,
            [
                (2, 2, MORE),
                (0, 2, CONTINUES | MORE),
                (0, 2, CONTINUES | MORE),
                (0, 2, CONTINUES | MORE),
                (0, 1, CONTINUES)
            ]
        );
    }

    #[test]
    fn calls_and_answers_go_in_pieces_where_messages_go_whole() {
        let lens = |len: usize, single: usize, kind: Kind| -> Vec<usize> {
            let payload = vec![0; len];
            pieces(b"c", &payload, single, kind)
                .map(|p| p.payload.len())
                .collect()
        };
        const KIB: usize = 1 << 10;
        assert_eq!(lens(64 * KIB, 256 * KIB, Kind::Message), [64 * KIB]);
        // A message too long for one record: quarter-ring fragments, as ever.
        let single = 256 * KIB;
        assert_eq!(lens(1 << 20, single, Kind::Message), [single / 4; 16]);
        assert_eq!(lens(PIPELINE_AT - 1, 256 * KIB, Kind::SyncRequest).len(), 1);
        // An eighth of the call, but at least 16 KiB...
        assert_eq!(lens(64 * KIB, 256 * KIB, Kind::SyncRequest), [16 * KIB; 4]);
        assert_eq!(lens(1 << 20, 4 << 20, Kind::Reply), [128 * KIB; 8]);
        // ...at most 256 KiB, and at most a quarter of the ring.
        assert_eq!(lens(16 << 20, 64 << 20, Kind::Invoke), [256 * KIB; 64]);
        assert_eq!(lens(1 << 20, 256 * KIB, Kind::ErrorReply), [64 * KIB; 16]);
        assert_eq!(lens(40 * KIB, 8 * KIB, Kind::Reply), [2 * KIB; 20]);
    }

    #[test]
    fn a_message_begun_behind_a_front_comes_out_whole_behind_it() {
        const FRONT: usize = 3;
        let payload: Vec<u8> = (0..100u8).collect();
        let mut r = Reassembly::new(1 << 20);
        let mut body = vec![9u8; FRONT];
        body.extend_from_slice(b"ch");
        body.extend_from_slice(&payload[..40]);
        let first = header(Kind::Message, 2, 40, 0, MORE);
        assert_eq!(r.feed_behind(first, &mut body, FRONT), Ok(Fed::Partial));
        let next = header(Kind::Message, 0, 60, 0, CONTINUES);
        let mut body = payload[40..].to_vec();
        let Ok(Fed::Whole(h)) = r.feed(next, &mut body) else {
            panic!("not whole")
        };
        assert_eq!(h.payload_len, 100);
        assert_eq!(h.channel_len, 2);
        assert_eq!(r.take_front_of_whole(), FRONT);
        assert_eq!(r.take_front_of_whole(), 0, "taken once");
        assert_eq!(&body[..FRONT], [9; FRONT]);
        assert_eq!(&body[FRONT..FRONT + 2], b"ch");
        assert_eq!(&body[FRONT + 2..], &payload[..]);
        // A whole record passes through untouched, with no front to take.
        let lone = header(Kind::Message, 2, 1, 0, 0);
        let mut body = vec![9, 9, 9, b'c', b'h', 1];
        assert_eq!(r.feed_behind(lone, &mut body, FRONT), Ok(Fed::Whole(lone)));
        assert_eq!(r.take_front_of_whole(), 0);
        // The limit counts the payload only, not the front.
        let mut r = Reassembly::new(100);
        let mut body = vec![0u8; FRONT + 2 + 40];
        r.feed_behind(first, &mut body, FRONT).unwrap();
        assert!(matches!(r.feed(next, &mut vec![0; 60]), Ok(Fed::Whole(_))));
    }

    #[test]
    fn an_aborted_message_is_dropped_and_the_next_one_passes() {
        let mut r = Reassembly::new(1 << 20);
        let mut body = b"chanxx".to_vec();
        let first = header(Kind::Message, 4, 2, 0, MORE);
        assert_eq!(r.feed(first, &mut body), Ok(Fed::Partial));
        let abort = header(Kind::Message, 0, 0, 0, CONTINUES | ABORT);
        assert_eq!(r.feed(abort, &mut Vec::new()), Ok(Fed::Aborted));
        let whole = header(Kind::Message, 4, 0, 0, 0);
        assert_eq!(r.feed(whole, &mut b"chan".to_vec()), Ok(Fed::Whole(whole)));
    }

    #[test]
    fn broken_runs_are_violations() {
        let cont = header(Kind::Message, 0, 1, 0, CONTINUES);
        let first = header(Kind::SyncRequest, 1, 1, 5, MORE);
        let mut r = Reassembly::new(1 << 20);
        assert!(r.feed(cont, &mut vec![0]).is_err(), "no start");
        let mut r = Reassembly::new(1 << 20);
        r.feed(first, &mut vec![b'c', 0]).unwrap();
        let other = header(Kind::SyncRequest, 1, 1, 6, 0);
        assert!(r.feed(other, &mut vec![b'c', 0]).is_err(), "interleaved");
        let mut r = Reassembly::new(1 << 20);
        r.feed(first, &mut vec![b'c', 0]).unwrap();
        let wrong_call = header(Kind::SyncRequest, 0, 1, 6, CONTINUES);
        assert!(r.feed(wrong_call, &mut vec![0]).is_err(), "another call");
        let mut r = Reassembly::new(3);
        r.feed(first, &mut vec![b'c', 0]).unwrap();
        let more = header(Kind::SyncRequest, 0, 2, 5, CONTINUES | MORE);
        r.feed(more, &mut vec![0, 0]).unwrap();
        assert!(
            matches!(
                r.feed(more, &mut vec![0, 0]),
                Err(Violation::TooLong { .. })
            ),
            "past the limit"
        );
    }
}
