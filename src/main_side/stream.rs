//! Streaming one message into a renderer's ring piece by piece as room
//! appears, instead of copying what does not fit into the outbox: a big
//! message then costs main one copy, and main's writing overlaps the
//! renderer's reading. The writer lets go of the ring's lock while it waits,
//! so other threads (and the dispatcher) never wait on it; their records
//! queue in the outbox behind the message, and flushes leave the ring to the
//! writer until it is done.

use super::outbox::Broken;
use super::web_contents::{Connection, WebContents};
use crate::error::{Error, Result, check_channel};
use crate::wait;
use crate::wait::spin::Spinning;
use crate::wire::failure::RemoteFailure;
use crate::wire::fragment::{Piece, goes_whole, pieces};
use crate::wire::record::{Kind, ring_bytes};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long an application thread spins for room before it sleeps: about a
/// wake-up's cost. A renderer that is reading frees a piece's room within a
/// few microseconds.
const SENDER_SPIN: Duration = Duration::from_micros(200);
/// Longest sleep before a sleeping writer looks at the ring itself, should
/// the dispatcher be busy elsewhere.
const SENDER_SLICE: Duration = Duration::from_millis(1);
/// How long the dispatcher waits for a blocked caller to free room for the
/// next piece of its reply before it queues the rest in the outbox: about a
/// wake-up of a caller that went to sleep, so that a caller that reads does
/// not lose its reply to a copy.
const DISPATCHER_PIECE_WAIT: Duration = Duration::from_micros(100);
/// Most time the dispatcher spends streaming one reply, per MiB of it (and
/// at least one such span): about what copying the rest into the outbox
/// would cost instead, so that a renderer that reads slowly on purpose
/// takes no more of main's time than its reply's size does anyway. Other
/// renderers wait meanwhile, as they would for a slow listener.
const DISPATCHER_WAIT_PER_MIB: Duration = Duration::from_millis(1);
/// Polls of the ring between clock readings.
const POLLS_PER_CLOCK: u32 = 16;
/// Spin-loop hints between two polls.
const PAUSES_PER_POLL: u32 = 8;
/// Replies this long or longer are streamed by the dispatcher (smaller ones
/// nearly always fit the ring, and skip the bookkeeping).
const STREAM_REPLIES_FROM: usize = 16 << 10;

/// How a streaming writer waits for room.
pub(crate) enum Patience {
    /// A thread of the application: spins briefly, then sleeps until the
    /// dispatcher reports room (the renderer kicks it), for up to `timeout`
    /// from its first wait (a message that fits at once reads no clock).
    Sender {
        timeout: Duration,
        deadline: Option<Option<Instant>>,
    },
    /// The dispatcher answering a caller blocked in `send_sync`, which reads
    /// its reply as it arrives: spins only, [`DISPATCHER_PIECE_WAIT`] per
    /// piece and until `until` in all. Main's dispatcher never waits on a
    /// renderer without such a bound.
    Dispatcher { until: Instant },
}

impl Patience {
    /// The dispatcher's patience for a reply of `len` bytes, from now.
    pub fn dispatcher(len: usize) -> Patience {
        let mib = u32::try_from(len.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .max(1);
        let span = DISPATCHER_WAIT_PER_MIB.saturating_mul(mib);
        let now = Instant::now();
        Patience::Dispatcher {
            until: now.checked_add(span).unwrap_or(now),
        }
    }
}

/// How a streamed message left [`Connection::stream`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Streamed {
    /// All of it is in the ring.
    Whole,
    /// Some or all of it waits in the outbox: records were queued ahead of
    /// it, or patience ran out.
    Queued,
}

/// What the ring has for the next piece.
enum Room {
    Free,
    Full,
    /// Disconnected, or the renderer published an impossible position.
    Gone,
}

impl WebContents {
    /// Sends like [`send`](Self::send) and waits until the message has left
    /// main for the renderer's ring, as `send` followed by
    /// [`wait_sent`](Self::wait_sent) would, but without copying what the
    /// ring cannot take yet into main's outbox: this thread writes the
    /// message into the ring itself, piece by piece as the renderer frees
    /// room, spinning briefly and then sleeping. Main's copy in and the
    /// renderer's copy out overlap, so this is the fast way to stream large
    /// messages to a renderer.
    ///
    /// Messages and replies to this renderer from other threads wait behind
    /// it, in order. Some messages are copied into the outbox after all, as
    /// `send` does, and this then waits as `wait_sent` does: one short enough
    /// for one record (the ring's capacity less a header) that finds the
    /// ring full, for which the copy costs less than waiting; and one that finds
    /// records already waiting in the outbox, or another thread streaming to
    /// this renderer, which queues behind them. If `timeout` passes first
    /// (counted from the first wait for room: a message that fits at once
    /// reads no clock), the rest of the message waits in the outbox and
    /// reaches the renderer later, as with `send`, and this returns
    /// [`Error::Timeout`]. [`Error::Disconnected`] once the renderer is gone.
    /// Not from a listener or handler: main's dispatcher would wait
    /// meanwhile.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// # let ipc = ringipc::IpcMain::new()?;
    /// # let (renderer, _child) = ipc.spawn(&mut std::process::Command::new("./renderer"))?;
    /// let frame = vec![0u8; 8 << 20];
    /// for _ in 0..100 {
    ///     // Returns once the frame is in the renderer's ring: a slow
    ///     // renderer slows this loop, and main holds no copy.
    ///     renderer.send_blocking("frame", &frame, std::time::Duration::from_secs(5))?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn send_blocking(
        &self,
        channel: &str,
        arg: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<()> {
        check_channel(channel)?;
        let mut patience = Patience::Sender {
            timeout,
            deadline: None,
        };
        let (channel, arg) = (channel.as_bytes(), arg.as_ref());
        let streamed = self
            .conn
            .stream(Kind::Message, channel, arg, 0, &mut patience)?;
        match (streamed, patience) {
            (Streamed::Whole, _) => Ok(()),
            (
                Streamed::Queued,
                Patience::Sender {
                    deadline: Some(deadline),
                    ..
                },
            ) => {
                let left = deadline.map_or(Duration::MAX, |d| {
                    d.saturating_duration_since(Instant::now())
                });
                self.wait_sent(left)
            }
            (Streamed::Queued, _) => self.wait_sent(timeout),
        }
    }
}

impl Connection {
    /// [`Self::answer`] from the dispatcher to a caller blocked in
    /// `send_sync`, which reads its reply as it arrives: a reply longer than
    /// the ring can take at once streams into it (see `stream.rs`) rather
    /// than through the outbox, for as long as the dispatcher's patience
    /// lasts.
    #[inline]
    pub fn answer_blocked_caller(&self, call_id: u64, value: &[u8]) -> Result<()> {
        if value.len() < STREAM_REPLIES_FROM {
            return self.answer(call_id, value);
        }
        let streamed = self.stream(
            Kind::Reply,
            &[],
            value,
            call_id,
            &mut Patience::dispatcher(value.len()),
        );
        match streamed {
            Err(Error::MessageTooLarge { len, max }) => {
                let why = RemoteFailure::too_large(len, max);
                self.push(Kind::ErrorReply, &[], &why, call_id)?;
                Err(Error::MessageTooLarge { len, max })
            }
            other => other.map(drop),
        }
    }

    /// Writes a message (or reply) straight into the ring, waiting for room
    /// between pieces as `patience` allows; what is left when it runs out
    /// waits in the outbox, first in line. With records already queued, the
    /// message queues behind them as [`Connection::push`] would.
    pub fn stream(
        &self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
        patience: &mut Patience,
    ) -> Result<Streamed> {
        let mut guard = self.out.lock();
        let out = guard.as_ref().ok_or(Error::Disconnected)?;
        let single = out.max_payload(channel.len());
        if !out.is_clear()
            || goes_whole(payload.len(), single, kind)
            || payload.len() > out.max_message
        {
            // As `send`: records wait ahead of it; or it is one record,
            // which, should the ring be full, costs less to copy into the
            // outbox than to wait for (a writer of many small ones then
            // fills the ring in bursts); or it is too long, which `push`
            // reports.
            let backlog = self.push_locked(guard, (kind, channel, payload, call_id))?;
            return Ok(match backlog {
                0 => Streamed::Whole,
                _ => Streamed::Queued,
            });
        }
        let size = |p: &Piece<'_>| ring_bytes(p.channel.len(), p.payload.len());
        let mut rest = pieces(channel, payload, single, kind).peekable();
        // Whether the lock was let go: only then may others have queued.
        let mut waited = false;
        // Ring bytes of the pieces not yet written, counted at the first
        // wait (a message that fits at once never needs it).
        let mut left: Option<usize> = None;
        loop {
            let Some(out) = guard.as_mut() else {
                return Err(Error::Disconnected);
            };
            let mut broken = None;
            while let Some(piece) = rest.peek() {
                match out.try_write(kind, piece.channel, piece.payload, call_id, piece.flags) {
                    Ok(true) => {
                        if let Some(left) = &mut left {
                            *left -= size(piece);
                        }
                        rest.next();
                    }
                    Ok(false) => break,
                    Err(b) => {
                        broken = Some(b);
                        break;
                    }
                }
            }
            let next = rest.peek().map(size);
            if broken.is_none() && next.is_none() && !waited {
                // All of it fit at once (the common case): as `push`.
                self.unlock_and_hand_back(guard);
                return Ok(Streamed::Whole);
            }
            if broken.is_some() || next.is_none() {
                // Done (or broken): what others queued meanwhile may go now.
                out.streaming = 0;
                let flushed = out.flush();
                let backlog = out.backlog();
                self.queued.store(backlog, Ordering::Relaxed);
                self.unlock_and_hand_back(guard);
                if backlog == 0 {
                    self.sent.notify();
                }
                if let Some(Broken(reason)) = broken.or(flushed.err()) {
                    self.disconnect(reason);
                    return Err(Error::Disconnected);
                }
                return Ok(Streamed::Whole);
            }
            let needed = out.room_to_resume(next.unwrap_or_default());
            out.streaming = *left.get_or_insert_with(|| rest.clone().map(|p| size(&p)).sum());
            out.awaited_room = needed;
            self.queued.store(out.backlog(), Ordering::Relaxed);
            // The caller reads the pieces so far, which frees the room
            // waited for below, on the CPU it may have handed to main.
            self.unlock_and_hand_back(guard);
            waited = true;
            let room = self.wait_for_room(needed, patience);
            guard = self.out.lock();
            if !room {
                let Some(out) = guard.as_mut() else {
                    return Err(Error::Disconnected);
                };
                out.streaming = 0;
                let queued = out.queue_rest_first(kind, call_id, rest);
                let backlog = out.backlog();
                self.queued.store(backlog, Ordering::Relaxed);
                self.unlock_and_hand_back(guard);
                if backlog == 0 {
                    self.sent.notify();
                }
                return match queued {
                    // Room came in time after all: all of it is in the ring.
                    Ok(false) => Ok(Streamed::Whole),
                    Ok(true) => Ok(Streamed::Queued),
                    Err(Broken(reason)) => {
                        self.disconnect(reason);
                        Err(Error::Disconnected)
                    }
                };
            }
        }
    }

    /// Waits until `needed` ring bytes are free (`true`) or `patience` runs
    /// out (`false`). Also `true` once the renderer is gone or broke the
    /// ring, so that the caller, under the lock, finds out.
    fn wait_for_room(&self, needed: usize, patience: &mut Patience) -> bool {
        match patience {
            Patience::Sender { timeout, deadline } => {
                let deadline = *deadline.get_or_insert_with(|| wait::deadline_in(*timeout));
                self.sleep_for_room(needed, deadline)
            }
            Patience::Dispatcher { until } => {
                let piece_until = Instant::now() + DISPATCHER_PIECE_WAIT;
                self.spin_for_room(needed, piece_until.min(*until))
            }
        }
    }

    /// Spins until there is room (`true`) or `until` passes (`false`),
    /// yielding instead while this process has more spinners than cores.
    fn spin_for_room(&self, needed: usize, until: Instant) -> bool {
        let spinning = Spinning::enter();
        loop {
            for _ in 0..POLLS_PER_CLOCK {
                if !matches!(self.room(needed), Room::Full) {
                    return true;
                }
                if spinning.crowded() {
                    std::thread::yield_now();
                } else {
                    // Between looks, leave the reader's line alone a while.
                    for _ in 0..PAUSES_PER_POLL {
                        std::hint::spin_loop();
                    }
                }
            }
            if Instant::now() >= until {
                return false;
            }
        }
    }

    /// An application thread's wait: spins a little, then sleeps in `room`
    /// with the renderer asked to kick the dispatcher when it frees room
    /// (the dispatcher's flush then wakes us), until `deadline`.
    fn sleep_for_room(&self, needed: usize, deadline: Option<Instant>) -> bool {
        let now = Instant::now();
        let spin_until = deadline.map_or(now + SENDER_SPIN, |d| d.min(now + SENDER_SPIN));
        if self.spin_for_room(needed, spin_until) {
            return true;
        }
        loop {
            {
                let guard = self.out.lock();
                let Some(out) = guard.as_ref() else {
                    return true;
                };
                // Raised (with a fence) before the look below: either we see
                // the room, or the renderer sees the flag and kicks.
                out.ask_for_room();
            }
            if !matches!(self.room(needed), Room::Full) {
                return true;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            let until = deadline.map_or(now + SENDER_SLICE, |d| d.min(now + SENDER_SLICE));
            let woke = self
                .room
                .sleep(until, || !matches!(self.room(needed), Room::Full));
            if woke {
                // Spinning or writing from here on: the renderer need not
                // kick main for us (each kick would cost main a wake-up,
                // and kicks that bring nothing get a renderer muted).
                if let Some(out) = self.out.lock().as_ref() {
                    out.no_longer_ask_for_room();
                }
                return true;
            }
        }
    }

    /// Whether `needed` ring bytes are free now. Never disconnects (it runs
    /// under `room`'s lock, which a disconnect takes): a broken ring reads
    /// as [`Room::Gone`], and the writer finds the reason under the lock.
    fn room(&self, needed: usize) -> Room {
        let mut guard = self.out.lock();
        match guard.as_mut().map(|out| out.has_room(needed)) {
            Some(Ok(true)) => Room::Free,
            Some(Ok(false)) => Room::Full,
            Some(Err(_)) | None => Room::Gone,
        }
    }
}
