//! Sending to main: one record, or a long message in fragments, waiting for
//! room while the ring is full as the caller's [`Patience`] allows.

use super::shared::{Requests, SENDS_PER_CHECK, Shared, protocol};
use crate::error::{Error, Result};
use crate::ring::{Producer, PushError};
use crate::wait;
use crate::wire::fragment::{Piece, goes_whole, pieces};
use crate::wire::record::{ABORT, ABORT_RECORD, CONTINUES, Kind, MORE, ring_bytes};
use parking_lot::MutexGuard;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// How long a send may wait for room in the ring.
#[derive(Clone, Copy)]
pub(super) enum Patience {
    /// Until the deadline, if any.
    Wait(Option<Instant>),
    /// Not at all ([`crate::IpcRenderer::try_send`]).
    Never,
}

/// Attempts `try_send` makes at the producer lock, which a pusher that is not
/// waiting for room holds for well under a microsecond.
const TRY_LOCK_SPINS: usize = 64;

impl Shared {
    /// Writes one message or request to main, in fragments if it does not go
    /// whole (`wire::fragment::goes_whole`), waiting for room while the ring
    /// is full as `patience` allows.
    pub(super) fn push(
        &self,
        kind: Kind,
        channel: &str,
        payload: &[u8],
        tag: u64,
        patience: Patience,
    ) -> Result<()> {
        self.push_telling(kind, channel, payload, tag, patience)
            .map(drop)
    }

    /// [`Self::push`], also telling whether main's dispatcher was asleep and
    /// had to be woken for a single-record message (`false` for fragments).
    pub(super) fn push_telling(
        &self,
        kind: Kind,
        channel: &str,
        payload: &[u8],
        tag: u64,
        patience: Patience,
    ) -> Result<bool> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Disconnected);
        }
        if payload.len() > self.max_message {
            let max = self.max_message;
            return Err(Error::MessageTooLarge {
                len: payload.len(),
                max,
            });
        }
        let needed = ring_bytes(channel.len(), payload.len());
        let mut requests = self.lock_producer(patience, needed)?;
        self.check_main(&mut requests)?;
        let producer = &mut requests.producer;
        let single = producer.max_payload(channel.len());
        let channel = channel.as_bytes();
        if goes_whole(payload.len(), single, kind) {
            let whole = Piece {
                channel,
                payload,
                flags: 0,
            };
            self.push_piece(producer, kind, tag, whole, patience, 0)?;
            drop(requests);
            return Ok(self.request_data.notify());
        }
        let deadline = match patience {
            Patience::Wait(d) => d,
            // A message that must be split never fits at once.
            Patience::Never => {
                let free = producer.free_now().map_err(protocol)? as usize;
                return Err(Error::Full { needed, free });
            }
        };
        // The ring stays ours until the last fragment, so no other record
        // lands between them (see `wire::fragment`).
        for piece in pieces(channel, payload, single, kind) {
            // Until the last fragment, keep room for an abort record, so a
            // deadline that passes half way can end the message at once.
            let keep_abort = deadline.is_some() && piece.flags & MORE != 0;
            let reserve = if keep_abort { ABORT_RECORD } else { 0 };
            match self.push_piece(producer, kind, tag, piece, patience, reserve) {
                Ok(()) => {
                    self.request_data.notify();
                }
                Err(Error::Timeout) if !piece.is_first() => {
                    let abort = Piece {
                        channel: &[],
                        payload: &[],
                        flags: CONTINUES | ABORT,
                    };
                    // Room was kept for it: this cannot wait.
                    self.push_piece(producer, kind, tag, abort, Patience::Never, 0)?;
                    self.request_data.notify();
                    return Err(Error::Timeout);
                }
                Err(e) => return Err(e),
            }
        }
        // Not whether the first piece woke main: main then reads the pieces
        // as they come, awake, and a caller's wait should poll for its
        // answer's pieces as main writes them, not hand its CPU over.
        Ok(false)
    }

    /// The request ring's producer. Another thread may hold it while it
    /// waits for room: a caller with a deadline waits for the lock no longer
    /// than that, and one that never waits gives a pusher that is not stuck
    /// a moment, then fails as if the ring were full (`needed` bytes).
    fn lock_producer(&self, patience: Patience, needed: usize) -> Result<MutexGuard<'_, Requests>> {
        match patience {
            Patience::Wait(None) => Ok(self.requests.lock()),
            Patience::Wait(Some(d)) => self.requests.try_lock_until(d).ok_or(Error::Timeout),
            Patience::Never => (0..TRY_LOCK_SPINS)
                .find_map(|_| {
                    std::hint::spin_loop();
                    self.requests.try_lock()
                })
                .ok_or(Error::Full { needed, free: 0 }),
        }
    }

    /// Without a receiver thread nothing watches the lifeline between calls,
    /// so every [`SENDS_PER_CHECK`]th send asks whether main is still there.
    #[inline]
    fn check_main(&self, requests: &mut Requests) -> Result<()> {
        let Some(unchecked) = &mut requests.unchecked else {
            return Ok(());
        };
        *unchecked += 1;
        if *unchecked < SENDS_PER_CHECK {
            return Ok(());
        }
        *unchecked = 0;
        if self.alive() {
            return Ok(());
        }
        self.close();
        Err(Error::Disconnected)
    }

    /// Writes one record, waiting as `patience` allows until the ring has room
    /// for it and `reserve` bytes more. The caller notifies main.
    #[inline]
    fn push_piece(
        &self,
        producer: &mut Producer,
        kind: Kind,
        tag: u64,
        piece: Piece<'_>,
        patience: Patience,
        reserve: usize,
    ) -> Result<()> {
        let needed = ring_bytes(piece.channel.len(), piece.payload.len());
        let wanted = (needed + reserve) as u64;
        while !producer.has_room(wanted).map_err(protocol)? {
            let deadline = match patience {
                Patience::Never => {
                    let free = producer.free_now().map_err(protocol)? as usize;
                    return Err(Error::Full { needed, free });
                }
                Patience::Wait(d) => d,
            };
            self.wait_for_room(producer, wanted, deadline)?;
        }
        let Piece {
            channel,
            payload,
            flags,
        } = piece;
        match producer.try_push_flagged(kind, channel, payload, tag, flags) {
            Ok(()) => {
                // Read by this process's next call on the line.
                self.pushed_to.store(producer.position(), Ordering::Relaxed);
                Ok(())
            }
            Err(PushError::Violation(v)) => Err(protocol(v)),
            Err(PushError::TooLarge { len, capacity }) => {
                Err(Error::MessageTooLarge { len, max: capacity })
            }
            Err(PushError::Full { .. }) => unreachable!("room was checked"),
        }
    }

    /// Sleeps until main frees `wanted` bytes of ring, `deadline` passes, or
    /// main goes away.
    #[cold]
    fn wait_for_room(
        &self,
        producer: &mut Producer,
        wanted: u64,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let room = wait::wait_for(
            &self.request_space,
            &self.space_spin,
            deadline,
            || match producer.has_room(wanted) {
                Ok(true) => Some(Ok(())),
                Ok(false) if self.closed.load(Ordering::Relaxed) => Some(Err(Error::Disconnected)),
                Ok(false) => None,
                Err(v) => Some(Err(protocol(v))),
            },
            || self.alive(),
        );
        room.unwrap_or_else(|unmet| Err(self.unmet(unmet)))
    }
}
