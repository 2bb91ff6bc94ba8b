//! [`Outgoing`]: what main writes to one renderer: the producer side of its
//! reply ring, with a bounded outbox for records that find the ring full,
//! and answers on its call line (which look at the outbox first). Never
//! blocks.
//!
//! What the outbox holds is charged to main's memory budget: to this
//! renderer, except a message forwarded from another renderer, which is
//! charged to its sender and does not count toward this renderer's
//! `outbox_limit` (a sender must not get a briefly busy target cut off).

use super::budget::{Account, Charge, OverBudget};
use crate::call_line::{ANSWER_ROOM, CallLine, Status};
use crate::ring::{Producer, PushError};
use crate::wait::Doorbell;
use crate::wire::fragment::{Piece, goes_whole, pieces};
use crate::wire::record::{ABORT, CONTINUES, Kind, Violation, ring_bytes};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;

/// Records one flush moves into the ring at most: a renderer that frees its
/// whole ring at once costs main one batch per round, as its requests do.
pub(crate) const FLUSH_BATCH: usize = 64;

/// Why an outgoing record could not be queued: the renderer must be dropped.
pub(crate) struct Broken(pub String);

/// Why a forwarded message could not be queued.
pub(crate) enum ForwardFailed {
    /// The target must be dropped.
    Target(Broken),
    /// The sender's share of the memory budget is spent: it must be dropped.
    Sender(OverBudget),
}

/// A record waiting for room in the reply ring.
struct Pending {
    kind: Kind,
    call_id: u64,
    /// Fragmentation flags (see `fragment.rs`).
    flags: u16,
    channel_len: usize,
    /// Channel then payload.
    bytes: Vec<u8>,
    /// Its heap, charged to the sender if it was forwarded (else counted in
    /// the outbox's own charge).
    forwarded: Option<Charge>,
}

impl Pending {
    /// Heap bytes it was charged for (its buffer is reserved exactly).
    fn heap(&self) -> usize {
        size_of::<Pending>() + self.bytes.len()
    }

    fn ring_bytes(&self) -> usize {
        ring_bytes(self.channel_len, self.bytes.len() - self.channel_len)
    }
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
    /// Where small `send_sync`s are answered, and the doorbell their caller
    /// sleeps on (see `call_line.rs`).
    line: CallLine,
    line_bell: Doorbell,
    /// FIFO of records that found the ring full; always drained before anything
    /// new is pushed, so order is kept. The one record that goes to its front:
    /// the rest of a streamed message, which was ahead of everything queued
    /// while it streamed (`queue_rest_first`).
    outbox: VecDeque<Pending>,
    /// Ring bytes the queued records will take (headers and padding
    /// included), so that even an empty reply counts: zero means empty.
    pub outbox_bytes: usize,
    /// The part of `outbox_bytes` forwarded from other renderers.
    forwarded_bytes: usize,
    outbox_limit: usize,
    /// The outbox's heap, charged to this renderer.
    charge: Charge,
    /// Most payload bytes one message or reply may have.
    pub max_message: usize,
    /// Ring bytes a writer streaming one message (see `stream.rs`) has
    /// still to write; non-zero while it waits for room with the lock let
    /// go. Meanwhile every other record queues in the outbox behind it, and
    /// flushes leave the ring to it.
    pub(super) streaming: usize,
    /// Ring bytes that writer waits to be free for its next piece.
    pub(super) awaited_room: usize,
    /// A notify that put a reply in the ring found that a caller waiting
    /// for replies handed its CPU over to main rather than sleep (see
    /// `Doorbell::hand_over`): whoever lets go of `out` next yields back
    /// (`Connection::hand_back`).
    handed_over: Cell<bool>,
}

impl Outgoing {
    pub fn new(
        charge: Charge,
        producer: Producer,
        (data_bell, calls_bell, space_bell): (Doorbell, Doorbell, Doorbell),
        (line, line_bell): (CallLine, Doorbell),
        (outbox_limit, max_message): (usize, usize),
    ) -> Self {
        Outgoing {
            producer,
            data_bell,
            calls_bell,
            space_bell,
            line,
            line_bell,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            forwarded_bytes: 0,
            outbox_limit,
            charge,
            max_message,
            streaming: 0,
            awaited_room: 0,
            handed_over: Cell::new(false),
        }
    }

    /// Whether a caller handed its CPU over since this was last asked.
    pub fn take_handed_over(&self) -> bool {
        self.handed_over.take()
    }

    /// Notes a hand-over by a caller that waits on `bell`, after its notify.
    #[inline]
    fn note_hand_over(&self, bell: &Doorbell) {
        if bell.take_hand_over() {
            self.handed_over.set(true);
        }
    }

    /// Answers request `seq` (call `call_id`) on the call line with `bytes`
    /// as `status` says, or with word that the answer comes through the
    /// ring: when they do not fit, or when records wait in the outbox or
    /// behind a stream, which an answer on the line would overtake (what is
    /// already in the ring, the caller reads before it returns). Returns
    /// whether the answer is on the line, and whether its caller handed
    /// its CPU over to main (see `Doorbell::hand_over`; not taken while the
    /// outbox holds records, which the answer's reply would wait behind).
    /// Wakes the caller if it sleeps.
    pub fn answer_on_line(
        &self,
        seq: u64,
        call_id: u64,
        status: Status,
        bytes: &[u8],
    ) -> (bool, bool) {
        let clear = self.is_clear();
        let on_line = bytes.len() <= ANSWER_ROOM && clear;
        match on_line {
            true => self.line.answer(seq, call_id, status, bytes),
            false => self.line.answer(seq, call_id, Status::InRing, &[]),
        }
        self.line_bell.notify();
        (on_line, clear && self.line_bell.take_hand_over())
    }

    /// Ring bytes still waiting to be written: the outbox, and what a
    /// streaming writer has left. Zero means everything reached the ring.
    pub fn backlog(&self) -> usize {
        self.outbox_bytes + self.streaming
    }

    /// Whether a record may go straight to the ring: nothing waits ahead of it.
    pub(super) fn is_clear(&self) -> bool {
        self.outbox.is_empty() && self.streaming == 0
    }

    /// Largest payload one record with a channel of `channel_len` bytes carries.
    pub(super) fn max_payload(&self, channel_len: usize) -> usize {
        self.producer.max_payload(channel_len)
    }

    /// The room a writer that found the ring full waits for before it goes
    /// on: `needed`, or a quarter of the ring if more, so that small records
    /// then go in a burst rather than one per look at the reader's position
    /// (each look pulls that cache line away from the reader).
    pub(super) fn room_to_resume(&self, needed: usize) -> usize {
        needed.max(self.producer.capacity() / 4)
    }

    /// Lowers the flag [`Self::ask_for_room`] raised, unless the outbox
    /// needs it.
    pub(super) fn no_longer_ask_for_room(&self) {
        if self.outbox.is_empty() {
            self.space_bell.set_waiting(false);
        }
    }

    /// Whether a streaming writer waits for room that is now free.
    pub(super) fn streamer_may_go_on(&mut self) -> bool {
        self.streaming != 0 && self.has_room(self.awaited_room).unwrap_or(true)
    }

    /// Whether `needed` ring bytes are free now.
    pub(super) fn has_room(&mut self, needed: usize) -> Result<bool, Broken> {
        self.producer.has_room(needed as u64).map_err(violation)
    }

    /// Asks the renderer to kick main's dispatcher when it frees room
    /// (followed by a fence, so a re-check of the room afterwards is sound).
    pub(super) fn ask_for_room(&self) {
        self.space_bell.set_waiting(true);
    }

    /// Writes a message or reply to the ring, in fragments if it is long
    /// (see `fragment::pieces`), or queues it behind earlier ones. Never blocks.
    /// The caller has checked the length against `max_message`.
    pub fn push(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
    ) -> Result<(), Broken> {
        let single = self.producer.max_payload(channel.len());
        if goes_whole(payload.len(), single, kind) {
            return self.push_record(kind, channel, payload, call_id, 0);
        }
        for piece in pieces(channel, payload, single, kind) {
            self.push_record(kind, piece.channel, piece.payload, call_id, piece.flags)?;
        }
        Ok(())
    }

    /// [`Self::push`] of a message another renderer sent with `send_to`
    /// (`from`: its id), charging what must wait in the outbox to `sender`.
    pub fn forward(
        &mut self,
        channel: &[u8],
        payload: &[u8],
        from: u32,
        sender: &Arc<Account>,
    ) -> Result<(), ForwardFailed> {
        let single = self.producer.max_payload(channel.len());
        for piece in pieces(channel, payload, single, Kind::Message) {
            let (channel, payload, flags) = (piece.channel, piece.payload, piece.flags);
            let tag = from.into();
            if self.is_clear() {
                let written = self.try_write(Kind::Message, channel, payload, tag, flags);
                if written.map_err(ForwardFailed::Target)? {
                    continue;
                }
            }
            let mut charge = sender.charge();
            let pending = self.pending(
                Kind::Message,
                channel,
                payload,
                tag,
                flags,
                Some(&mut charge),
            );
            let pending = match pending {
                Ok(pending) => pending,
                Err(over) => {
                    if !piece.is_first() {
                        // Part of it is on its way: end it, so the target
                        // drops what came and stays in step.
                        let abort = CONTINUES | ABORT;
                        self.push_record(Kind::Message, &[], &[], tag, abort)
                            .map_err(ForwardFailed::Target)?;
                    }
                    return Err(ForwardFailed::Sender(over));
                }
            };
            self.forwarded_bytes += pending.ring_bytes();
            self.queue(Pending {
                forwarded: Some(charge),
                ..pending
            })
            .map_err(ForwardFailed::Target)?;
        }
        Ok(())
    }

    /// Writes one record if the ring has room for it now; `Ok(false)` if not.
    #[inline]
    pub(super) fn try_write(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        tag: u64,
        flags: u16,
    ) -> Result<bool, Broken> {
        match self
            .producer
            .try_push_flagged(kind, channel, payload, tag, flags)
        {
            Ok(()) => {
                self.notify_for(kind);
                Ok(true)
            }
            Err(PushError::Full { .. }) => Ok(false),
            Err(PushError::TooLarge { len, capacity }) => Err(Broken(format!(
                "record of {len} bytes exceeds ring of {capacity}"
            ))),
            Err(PushError::Violation(v)) => Err(violation(v)),
        }
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
        if self.is_clear() && self.try_write(kind, channel, payload, call_id, flags)? {
            return Ok(());
        }
        let pending = self
            .pending(kind, channel, payload, call_id, flags, None)
            .map_err(|over| Broken(over.to_string()))?;
        self.queue(pending)
    }

    /// A copy of one record to queue, its heap charged to `charge`, or to
    /// this renderer's outbox charge if `None`.
    #[cold]
    fn pending(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
        flags: u16,
        charge: Option<&mut Charge>,
    ) -> Result<Pending, OverBudget> {
        let len = channel.len() + payload.len();
        let charge = charge.unwrap_or(&mut self.charge);
        charge.grow(size_of::<Pending>() + len)?;
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(len).is_err() {
            return Err(charge.refused(size_of::<Pending>() + len));
        }
        bytes.extend_from_slice(channel);
        bytes.extend_from_slice(payload);
        Ok(Pending {
            kind,
            call_id,
            flags,
            channel_len: channel.len(),
            bytes,
            forwarded: None,
        })
    }

    /// Puts a record at the back of the outbox and tries to flush it.
    #[cold]
    fn queue(&mut self, pending: Pending) -> Result<(), Broken> {
        self.outbox_bytes += pending.ring_bytes();
        self.outbox.push_back(pending);
        self.check_limit()?;
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
            Kind::Reply | Kind::ErrorReply => {
                self.calls_bell.notify();
                // Not for a message: one a listener sends before it
                // answers would hand the CPU back before the answer exists.
                self.note_hand_over(&self.calls_bell);
            }
            // A caller parked on the call line drains the ring too (nobody
            // else does in a renderer without a receiver thread), so it is
            // woken like a caller through the rings.
            _ => Doorbell::notify_each([&self.data_bell, &self.calls_bell, &self.line_bell]),
        }
    }

    /// Puts the rest of a streamed message (`pieces`, in order) at the
    /// front of the outbox, ahead of what others queued while it streamed,
    /// writing what fits straight into the ring, and tries to flush. Its
    /// copies are charged to this renderer. Returns whether any piece had
    /// to be queued.
    #[cold]
    pub(super) fn queue_rest_first<'a>(
        &mut self,
        kind: Kind,
        call_id: u64,
        pieces: impl Iterator<Item = Piece<'a>>,
    ) -> Result<bool, Broken> {
        // Set aside what others queued meanwhile; flushing as we go moves
        // only our pieces, and frees their copies for the next ones to reuse.
        let behind = std::mem::take(&mut self.outbox);
        let mut queued_any = false;
        let mut result = Ok(());
        for piece in pieces {
            let (channel, payload, flags) = (piece.channel, piece.payload, piece.flags);
            if self.outbox.is_empty() {
                match self.try_write(kind, channel, payload, call_id, flags) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(broken) => {
                        result = Err(broken);
                        break;
                    }
                }
            }
            let pending = self.pending(kind, channel, payload, call_id, flags, None);
            match pending {
                Ok(pending) => {
                    self.outbox_bytes += pending.ring_bytes();
                    self.outbox.push_back(pending);
                    queued_any = true;
                    // As in `queue`: kick us when room appears, then look.
                    self.space_bell.set_waiting(true);
                }
                Err(over) => {
                    result = Err(Broken(over.to_string()));
                    break;
                }
            }
            if let Err(broken) = self.check_limit().and_then(|()| self.flush()) {
                result = Err(broken);
                break;
            }
        }
        self.outbox.extend(behind);
        result?;
        if !self.outbox.is_empty() {
            // A flush above may have emptied our part and lowered the flag
            // while what others queued still waits.
            self.space_bell.set_waiting(true);
        }
        self.flush()?;
        Ok(queued_any)
    }

    /// The renderer must go if what waits for it, its own records only,
    /// exceeds the outbox limit.
    fn check_limit(&self) -> Result<(), Broken> {
        let own = self.outbox_bytes - self.forwarded_bytes;
        if own > self.outbox_limit {
            return Err(Broken(format!(
                "renderer is not reading: {own} bytes queued for it, limit {}",
                self.outbox_limit
            )));
        }
        Ok(())
    }

    /// Moves queued records into the ring while they fit, at most
    /// [`FLUSH_BATCH`] of them, unless a streaming writer holds the ring.
    /// Returns whether the outbox is now empty.
    pub fn flush(&mut self) -> Result<bool, Broken> {
        if self.streaming != 0 {
            return Ok(self.outbox.is_empty());
        }
        let (mut messages, mut replies) = (false, false);
        for _ in 0..FLUSH_BATCH {
            let Some(p) = self.outbox.front() else { break };
            let (channel, payload) = p.bytes.split_at(p.channel_len);
            match self
                .producer
                .try_push_flagged(p.kind, channel, payload, p.call_id, p.flags)
            {
                Ok(()) => {
                    let p = self.outbox.pop_front().expect("front exists");
                    self.outbox_bytes -= p.ring_bytes();
                    if p.forwarded.is_some() {
                        self.forwarded_bytes -= p.ring_bytes();
                    } else {
                        self.charge.shrink(p.heap());
                    }
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
        if replies {
            self.note_hand_over(&self.calls_bell);
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
mod tests;
