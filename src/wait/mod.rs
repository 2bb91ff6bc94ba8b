//! Sleeping and waking across processes: the doorbell protocol, spin-then-park,
//! and the choice of backend.
//!
//! A [`Doorbell`] guards one condition ("the ring has data", "the ring has room").
//! The handshake, proven free of lost wake-ups by `model_tests`:
//!
//! ```text
//! waiter                                  notifier
//! sleepers += 1            (SeqCst)       publish data          (Release)
//! fence                    (SeqCst)       fence                 (SeqCst)
//! key = seq                (Acquire)      if sleepers != 0:
//! if condition: cancel, return              seq += 1            (Release)
//! sleep while seq == key                    wake all sleepers on seq
//! sleepers -= 1
//! ```
//!
//! The two fences make sure that either the waiter's re-check sees the data or the
//! notifier sees the waiter. If the waiter read `key` after the notifier bumped
//! `seq`, that bump happened-before its re-check, which then sees the data; if it
//! read `key` before, the futex compare fails or the wake finds it asleep.
//!
//! Main never sleeps on a futex: its dispatcher multiplexes every renderer, so it
//! parks in `poll` on the renderers' lifeline sockets, and renderers "ring" it by
//! writing a byte there ([`Ring::Kick`]). A renderer's receiver thread parks the
//! same way on its lifeline ([`Ring::Poll`]). The waiter-flag half of the
//! protocol is the same; the `seq`/`key` half is not needed there, because a
//! kick stays readable in the socket until the sleeper drains it, so a kick
//! that lands before the sleeper reaches `poll` still ends its sleep.

pub(crate) mod futex;
pub(crate) mod raw_event;
pub(crate) mod spin;

use crate::layout::DoorbellWord;
use crate::sync::{Ordering, fence};
use parking_lot::{Mutex, MutexGuard};
use raw_event::RawEvent;
use spin::{AdaptiveSpin, Spinning};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How renderers sleep and get woken.
///
/// Chosen by main in [`crate::Config`] and recorded in the segment header, so
/// both sides of a connection always agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitBackend {
    /// A shared Linux futex in the segment. No lock in shared memory; the default.
    #[default]
    Futex,
    /// A `raw_sync` process-shared event (pthread mutex + condvar) in the segment.
    /// Portable, but it trusts renderers: one that holds the event's mutex can
    /// stall main's wake-ups to it.
    RawSyncEvent,
}

impl WaitBackend {
    pub(crate) fn to_wire(self) -> u32 {
        match self {
            WaitBackend::Futex => 1,
            WaitBackend::RawSyncEvent => 2,
        }
    }

    pub(crate) fn from_wire(v: u32) -> Option<Self> {
        match v {
            1 => Some(WaitBackend::Futex),
            2 => Some(WaitBackend::RawSyncEvent),
            _ => None,
        }
    }
}

/// How a notifier wakes the sleeping side of a doorbell.
pub(crate) enum Ring {
    /// `FUTEX_WAKE` on the doorbell's `seq` word.
    Futex,
    /// Signal the `raw_sync` event that belongs to this doorbell. The mutex
    /// admits one sleeper of this process at a time: the event is manual-reset,
    /// and a second sleeper's `clear` could otherwise eat the first one's wake.
    Event(RawEvent, Mutex<()>),
    /// Write one byte to a socket whose other end the sleeper `poll`s: main's
    /// dispatcher, or a renderer's receiver thread (see [`Ring::Poll`]).
    /// Shared ownership keeps the descriptor number from being reused while
    /// any doorbell can still write to it.
    Kick(Arc<OwnedFd>),
    /// The renderer's receiver thread: it sleeps in `poll` on its lifeline,
    /// where main kicks it, and on a local socket, where this process's own
    /// threads kick it (through `local`). One `poll` so that an idle receiver
    /// needs no timer: main's death closes the lifeline and wakes it.
    Poll {
        local: Arc<OwnedFd>,
        sleep_on: [Arc<OwnedFd>; 2],
    },
}

/// One side's handle on a shared [`DoorbellWord`].
pub(crate) struct Doorbell {
    word: *const DoorbellWord,
    ring: Ring,
}

// SAFETY: the word is atomics in a mapping the owner keeps alive; the ring
// mechanisms are thread-safe (futex, process-shared event, socket write).
unsafe impl Send for Doorbell {}
// SAFETY: as for `Send`; all methods take `&self` and touch only atomics/syscalls.
unsafe impl Sync for Doorbell {}

impl Doorbell {
    /// # Safety
    /// `word` must stay valid while the doorbell lives.
    pub unsafe fn new(word: *const DoorbellWord, ring: Ring) -> Self {
        Doorbell { word, ring }
    }

    fn word(&self) -> &DoorbellWord {
        // SAFETY: valid by the constructor's contract; atomics only.
        unsafe { &*self.word }
    }

    /// Announces that the caller is about to sleep. The caller must re-check its
    /// condition afterwards and then call either [`Self::cancel`] or [`Self::sleep`].
    ///
    /// Returns `None` if, under the `raw_sync` backend, another thread of this
    /// process held the event for all of `patience`: the caller re-checks and
    /// tries again.
    pub fn prepare(&self, patience: Duration) -> Option<Prepared<'_>> {
        let sole = match &self.ring {
            Ring::Event(ev, sleeper) => {
                let guard = sleeper.try_lock_for(patience)?;
                // Clear before announcing: a `set` that lands after this is kept.
                ev.clear();
                Some(guard)
            }
            _ => None,
        };
        let w = self.word();
        // SYNC(sleepers): SeqCst RMW + fence ↔ the fence in `notify` (Dekker pair).
        w.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // SYNC(seq): Acquire ← Release bump in `ring`.
        let key = w.seq.load(Ordering::Acquire);
        Some(Prepared { key, sole })
    }

    /// Withdraws a [`Self::prepare`] whose re-check found the condition true.
    pub fn cancel(&self, prepared: Prepared<'_>) {
        self.word().sleepers.fetch_sub(1, Ordering::Relaxed);
        drop(prepared);
    }

    /// Sleeps until notified or `timeout` passes; returns `true` on timeout
    /// (and, for [`Ring::Poll`], when the lifeline closed: the caller then
    /// finds its peer gone).
    pub fn sleep(&self, prepared: Prepared<'_>, timeout: Duration) -> bool {
        let timed_out = match &self.ring {
            Ring::Event(ev, _) => ev.wait(timeout),
            Ring::Poll { sleep_on, .. } => !crate::lifeline::sleep_until_kicked(sleep_on, timeout),
            _ => futex::wait(self.word(), prepared.key, timeout),
        };
        self.word().sleepers.fetch_sub(1, Ordering::Relaxed);
        if let Some(guard) = prepared.sole {
            // Hand the event to the next sleeper of this process, if any.
            MutexGuard::unlock_fair(guard);
        }
        timed_out
    }

    /// For a waiter that parks elsewhere (main in `poll`): raise or lower the flag
    /// that asks notifiers to ring. Raising is followed by a SeqCst fence.
    pub fn set_waiting(&self, waiting: bool) {
        self.word()
            .sleepers
            .store(waiting as u32, Ordering::Relaxed);
        if waiting {
            // SYNC(sleepers): ↔ the fence in `notify` (Dekker pair).
            fence(Ordering::SeqCst);
        }
    }

    /// Called after publishing: wakes the other side if it announced sleep.
    /// Costs one fence and one load when nobody sleeps.
    #[inline]
    pub fn notify(&self) {
        // SYNC(sleepers): ↔ the fence in `prepare`/`set_waiting` (Dekker pair).
        fence(Ordering::SeqCst);
        if self.word().sleepers.load(Ordering::Relaxed) != 0 {
            self.ring();
        }
    }

    /// How long one sleep lasts before the sleeper looks at its peer's
    /// liveness itself. A `poll` sleeper learns of a death from the lifeline,
    /// so it needs no slice at all.
    fn park_slice(&self) -> Duration {
        match self.ring {
            Ring::Poll { .. } => POLL_PARK_SLICE,
            _ => PARK_SLICE,
        }
    }

    /// Wakes every sleeper unconditionally (shutdown, disconnect).
    #[cold]
    pub fn ring(&self) {
        match &self.ring {
            Ring::Futex => {
                // SYNC(seq): Release → Acquire in `prepare`.
                self.word().seq.fetch_add(1, Ordering::Release);
                futex::wake_all(self.word());
            }
            Ring::Event(ev, _) => {
                // SYNC(seq): Release → Acquire in `prepare`.
                self.word().seq.fetch_add(1, Ordering::Release);
                ev.set();
            }
            Ring::Kick(fd) | Ring::Poll { local: fd, .. } => crate::lifeline::kick(fd.as_raw_fd()),
        }
    }
}

/// A doorbell announced as about to sleep; see [`Doorbell::prepare`].
pub(crate) struct Prepared<'a> {
    key: u32,
    /// Under the `raw_sync` backend: this thread's turn as the event's sleeper.
    sole: Option<MutexGuard<'a, ()>>,
}

/// Why [`wait_for`] returned without the condition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gave {
    Up,
    PeerGone,
}

/// How long one futex sleep lasts before the waiter re-checks that its peer is
/// alive. Bounds how late a dead peer is noticed.
pub(crate) const PARK_SLICE: Duration = Duration::from_millis(50);

/// [`PARK_SLICE`] for a sleeper in `poll` on its lifeline ([`Ring::Poll`]):
/// none, since the lifeline itself reports the peer's death.
const POLL_PARK_SLICE: Duration = Duration::MAX;

/// Polls of `ready` before a wait reads the clock: most waits on a hot path
/// end within them, and on a VM a clock read costs about as much as the
/// cache-line transfer the wait is for.
const FIRST_BURST: usize = 64;

/// Spins on `ready` for the budget `spin` grants, then parks on `bell` in
/// slices of [`PARK_SLICE`] (unbounded for a `poll` sleeper) until `ready` yields a value, `deadline` passes,
/// or `peer_alive` says the other side is gone. The time the wait took
/// teaches `spin` for next time.
pub(crate) fn wait_for<T>(
    bell: &Doorbell,
    spin: &AdaptiveSpin,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
    peer_alive: impl FnMut() -> bool,
) -> Result<T, Gave> {
    for _ in 0..FIRST_BURST {
        if let Some(v) = ready() {
            spin.record_quick();
            return Ok(v);
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    let budget = spin.budget();
    let got = spin_then_park(bell, budget.spin, start, deadline, ready, peer_alive);
    if got.is_ok() {
        spin.record(budget, start.elapsed());
    }
    got
}

fn spin_then_park<T>(
    bell: &Doorbell,
    spin: Duration,
    start: Instant,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
    mut peer_alive: impl FnMut() -> bool,
) -> Result<T, Gave> {
    let spin_until = deadline.map_or(start + spin, |d| d.min(start + spin));
    let spinning = Spinning::enter();
    loop {
        // More spinners than cores: let the threads we wait for run.
        // A yield may run another thread for a whole time slice: look at the
        // clock after each one.
        let crowded = spinning.crowded();
        for _ in 0..if crowded { 1 } else { 64 } {
            if crowded {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            if let Some(v) = ready() {
                return Ok(v);
            }
        }
        if Instant::now() >= spin_until {
            break;
        }
    }
    drop(spinning);
    loop {
        let slice = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(bell.park_slice()),
                _ => return ready().ok_or(Gave::Up),
            },
            None => bell.park_slice(),
        };
        let Some(prepared) = bell.prepare(slice) else {
            // Another thread of ours held the event all along; look again.
            if let Some(v) = ready() {
                return Ok(v);
            }
            continue;
        };
        if let Some(v) = ready() {
            bell.cancel(prepared);
            return Ok(v);
        }
        let timed_out = bell.sleep(prepared, slice);
        if let Some(v) = ready() {
            return Ok(v);
        }
        if timed_out && !peer_alive() {
            return Err(Gave::PeerGone);
        }
    }
}
