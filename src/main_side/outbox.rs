//! [`Outgoing`]: main's producer side of one renderer's reply ring, with a
//! bounded outbox for records that find the ring full. Never blocks.

use crate::ring::{Producer, PushError};
use crate::wait::Doorbell;
use crate::wire::fragment::pieces;
use crate::wire::record::{Kind, Violation, ring_bytes};
use std::collections::VecDeque;

/// Why an outgoing record could not be queued: the renderer must be dropped.
pub(crate) struct Broken(pub String);

/// A record waiting for room in the reply ring.
struct Pending {
    kind: Kind,
    call_id: u64,
    /// Fragmentation flags (see `fragment.rs`).
    flags: u16,
    channel_len: usize,
    /// Channel then payload.
    bytes: Vec<u8>,
}

/// The producer side of the reply ring. Only touched under `Connection::out`.
pub(crate) struct Outgoing {
    producer: Producer,
    /// reply.data: the renderer's receiver thread sleeps on it; rung after
    /// publishing a message.
    pub data_bell: Doorbell,
    /// reply.calls: `send_sync` callers sleep on it; rung after publishing a reply.
    calls_bell: Doorbell,
    /// reply.space: we raise its flag while the outbox is non-empty, and the
    /// renderer kicks us when it frees room.
    space_bell: Doorbell,
    /// FIFO of records that found the ring full; always drained before anything
    /// new is pushed, so order is kept.
    outbox: VecDeque<Pending>,
    /// Ring bytes the queued records will take (headers and padding
    /// included), so that even an empty reply counts: zero means empty.
    pub outbox_bytes: usize,
    outbox_limit: usize,
    /// Most payload bytes one message or reply may have.
    pub max_message: usize,
}

impl Outgoing {
    pub fn new(
        producer: Producer,
        data_bell: Doorbell,
        calls_bell: Doorbell,
        space_bell: Doorbell,
        (outbox_limit, max_message): (usize, usize),
    ) -> Self {
        Outgoing {
            producer,
            data_bell,
            calls_bell,
            space_bell,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            outbox_limit,
            max_message,
        }
    }

    /// Writes a message or reply to the ring, in fragments if it is longer
    /// than one record can be, or queues it behind earlier ones. Never blocks.
    /// The caller has checked the length against `max_message`.
    pub fn push(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
    ) -> Result<(), Broken> {
        let single = self.producer.max_payload(channel.len());
        if payload.len() <= single {
            return self.push_record(kind, channel, payload, call_id, 0);
        }
        for piece in pieces(channel, payload, single) {
            self.push_record(kind, piece.channel, piece.payload, call_id, piece.flags)?;
        }
        Ok(())
    }

    /// Writes one record, or queues it behind earlier ones.
    #[inline]
    fn push_record(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
        flags: u16,
    ) -> Result<(), Broken> {
        if self.outbox.is_empty() {
            match self
                .producer
                .try_push_flagged(kind, channel, payload, call_id, flags)
            {
                Ok(()) => {
                    self.notify_for(kind);
                    return Ok(());
                }
                Err(PushError::Full { .. }) => {}
                Err(PushError::TooLarge { len, capacity }) => {
                    return Err(Broken(format!(
                        "record of {len} bytes exceeds ring of {capacity}"
                    )));
                }
                Err(PushError::Violation(v)) => return Err(violation(v)),
            }
        }
        let mut bytes = Vec::with_capacity(channel.len() + payload.len());
        bytes.extend_from_slice(channel);
        bytes.extend_from_slice(payload);
        self.outbox_bytes += ring_bytes(channel.len(), payload.len());
        self.outbox.push_back(Pending {
            kind,
            call_id,
            flags,
            channel_len: channel.len(),
            bytes,
        });
        if self.outbox_bytes > self.outbox_limit {
            return Err(Broken(format!(
                "renderer is not reading: {} bytes queued for it, limit {}",
                self.outbox_bytes, self.outbox_limit
            )));
        }
        // Ask the renderer to kick us when it frees room, then look again: it may
        // have freed room before it could see the flag.
        self.space_bell.set_waiting(true);
        self.flush().map(|_| ())
    }

    /// Wakes whoever waits for records of `kind`. While a `send_sync` is in
    /// flight its caller, not the receiver thread, drains the ring, so a
    /// message must wake a sleeping caller too: otherwise a reply queued in
    /// our outbox behind messages waits until the caller's park slice ends.
    fn notify_for(&self, kind: Kind) {
        match kind {
            Kind::Reply | Kind::ErrorReply => self.calls_bell.notify(),
            _ => {
                self.data_bell.notify();
                self.calls_bell.notify();
            }
        }
    }

    /// Moves queued records into the ring while they fit. Returns whether the
    /// outbox is now empty.
    pub fn flush(&mut self) -> Result<bool, Broken> {
        let (mut messages, mut replies) = (false, false);
        while let Some(p) = self.outbox.front() {
            let (channel, payload) = p.bytes.split_at(p.channel_len);
            match self
                .producer
                .try_push_flagged(p.kind, channel, payload, p.call_id, p.flags)
            {
                Ok(()) => {
                    self.outbox_bytes -= ring_bytes(p.channel_len, p.bytes.len() - p.channel_len);
                    let p = self.outbox.pop_front().expect("front exists");
                    match p.kind {
                        Kind::Reply | Kind::ErrorReply => replies = true,
                        _ => messages = true,
                    }
                }
                Err(PushError::Full { .. }) => break,
                Err(PushError::TooLarge { .. }) => unreachable!("checked before queueing"),
                Err(PushError::Violation(v)) => return Err(violation(v)),
            }
        }
        if messages || replies {
            // Both: a flushed reply may answer an `invoke` nobody blocks on,
            // which the receiver thread must drain (see `wake_receiver`).
            self.notify_for(Kind::Message);
        }
        let empty = self.outbox.is_empty();
        if empty {
            self.space_bell.set_waiting(false);
        }
        Ok(empty)
    }
}

fn violation(v: Violation) -> Broken {
    Broken(format!("protocol violation on the reply ring: {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::{self, MainEnds, RendererEnds, Wakes};
    use crate::os::segment::{Mapping, create_memfd};
    use crate::ring::Consumer;
    use crate::wait::Wake;
    use crate::wire::layout::Layout;
    use std::os::fd::AsFd;
    use std::sync::Arc;

    /// An outgoing half over a fresh segment's 4 KiB reply ring, and the
    /// renderer's consumer of it.
    fn outgoing() -> (Outgoing, Consumer) {
        let layout = Layout::new(4096, 4096).unwrap();
        let fd = create_memfd(layout.segment_len).unwrap();
        let mapping = Arc::new(Mapping::map(fd.as_fd(), layout.segment_len).unwrap());
        let futexes = || Wakes {
            request_data: Wake::Futex,
            request_space: Wake::Futex,
            reply_data: Wake::Futex,
            reply_calls: Wake::Futex,
            reply_space: Wake::Futex,
        };
        let main: MainEnds = attach::attach(&mapping, &layout, futexes());
        let renderer: RendererEnds = attach::attach(&mapping, &layout, futexes());
        let b = main.bells;
        let out = Outgoing::new(
            main.replies,
            b.reply_data,
            b.reply_calls,
            b.reply_space,
            (1 << 20, 1 << 20),
        );
        (out, renderer.replies)
    }

    #[test]
    fn an_empty_reply_waiting_in_the_outbox_still_counts() {
        let (mut out, mut consumer) = outgoing();
        // Three records of 1032 bytes fill the ring but for 1000 bytes.
        for _ in 0..3 {
            out.push(Kind::Message, b"m", &[0u8; 1000], 0).ok().unwrap();
        }
        assert!(out.outbox.is_empty());
        // Then a 2008-byte record and an empty reply (24 bytes) must wait.
        out.push(Kind::Message, b"m", &[0u8; 1983], 0).ok().unwrap();
        out.push(Kind::Reply, b"", b"", 7).ok().unwrap();
        assert_eq!(out.outbox.len(), 2);
        // Freeing one record leaves room for the message (2008 + 8 of 2032)
        // but then not for the reply (24 + 8 of the 24 left).
        let mut body = Vec::new();
        consumer.pop(&mut body).unwrap().unwrap();
        assert!(!out.flush().ok().unwrap(), "the reply cannot fit yet");
        assert_eq!(out.outbox.len(), 1);
        assert_ne!(
            out.outbox_bytes, 0,
            "a queued empty reply must keep the flush going"
        );
        while consumer.pop(&mut body).unwrap().is_some() {}
        assert!(out.flush().ok().unwrap());
        assert_eq!(out.outbox_bytes, 0);
    }
}
