//! [`Doorbell`]: one side's handle on a shared doorbell word, and [`Wake`],
//! how its notifier wakes the sleeper. The handshake is described in the
//! module above (`wait`).

use super::futex;
use super::park::{PARK_SLICE, POLL_PARK_SLICE};
use super::raw_event::RawEvent;
use crate::os::lifeline;
use crate::sync::{Backing, Ordering, fence};
use crate::wire::layout::DoorbellWord;
use parking_lot::{Mutex, MutexGuard};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// How a notifier wakes the sleeping side of a doorbell.
pub(crate) enum Wake {
    /// `FUTEX_WAKE` of at most `at_most` threads sleeping on the doorbell's
    /// `seq` word. Main wakes one: a renderer controls how many threads
    /// sleep there, so waking them all would let it bill main for any number
    /// of wake-ups; its own threads pass the wake on (a caller that drains
    /// another's reply wakes the rest, and only one sender waits for room).
    Futex { at_most: u32 },
    /// Signal the `raw_sync` event that belongs to this doorbell. The mutex
    /// admits one sleeper of this process at a time: the event is manual-reset,
    /// and a second sleeper's `clear` could otherwise eat the first one's wake.
    Event(RawEvent, Mutex<()>),
    /// Write one byte to a socket whose other end the sleeper `poll`s: main's
    /// dispatcher, or a renderer's receiver thread (see [`Wake::PollSockets`]).
    /// Shared ownership keeps the descriptor number from being reused while
    /// any doorbell can still write to it.
    Kick(Arc<OwnedFd>),
    /// The renderer's receiver thread: it sleeps in `poll` on its lifeline,
    /// where main kicks it, and on a local socket, where this process's own
    /// threads kick it (through `kick`). One `poll` so that an idle receiver
    /// needs no timer: main's death closes the lifeline and wakes it.
    PollSockets {
        kick: Arc<OwnedFd>,
        sleep_on: [Arc<OwnedFd>; 2],
    },
}

/// One side's handle on a shared [`DoorbellWord`].
pub(crate) struct Doorbell {
    word: *const DoorbellWord,
    wake: Wake,
    /// Keeps the word (and an event's bytes) mapped.
    _backing: Backing,
}

// SAFETY: the word is atomics in memory `_backing` keeps alive; the wake
// mechanisms are thread-safe (futex, process-shared event, socket write).
unsafe impl Send for Doorbell {}
// SAFETY: as for `Send`; all methods take `&self` and touch only atomics/syscalls.
unsafe impl Sync for Doorbell {}

impl Wake {
    /// A futex wake for every sleeper: a renderer waking its own threads.
    pub const FUTEX_ALL: Wake = Wake::Futex {
        at_most: i32::MAX as u32,
    };
    /// A futex wake for one sleeper: main waking a renderer's threads.
    pub const FUTEX_ONE: Wake = Wake::Futex { at_most: 1 };
}

impl Doorbell {
    /// # Safety
    /// `word` (and the event in `wake`, if any) must lie inside `backing`.
    pub unsafe fn new(word: *const DoorbellWord, wake: Wake, backing: Backing) -> Self {
        Doorbell {
            word,
            wake,
            _backing: backing,
        }
    }

    fn word(&self) -> &DoorbellWord {
        // SAFETY: inside `_backing` by the constructor's contract; atomics only.
        unsafe { &*self.word }
    }

    /// Announces that the caller is about to sleep. The caller must re-check its
    /// condition afterwards and then call either [`Self::cancel`] or [`Self::sleep`].
    ///
    /// Returns `None` if, under the `raw_sync` backend, another thread of this
    /// process held the event for all of `patience`: the caller re-checks and
    /// tries again.
    pub fn prepare(&self, patience: Duration) -> Option<Prepared<'_>> {
        let sole = match &self.wake {
            Wake::Event(ev, sleeper) => {
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
        // SYNC(seq): Acquire ← Release bump in `wake`.
        let key = w.seq.load(Ordering::Acquire);
        Some(Prepared { key, sole })
    }

    /// Withdraws a [`Self::prepare`] whose re-check found the condition true.
    pub fn cancel(&self, prepared: Prepared<'_>) {
        self.word().sleepers.fetch_sub(1, Ordering::Relaxed);
        drop(prepared);
    }

    /// Sleeps until notified or `timeout` passes; returns `true` on timeout
    /// (and, for [`Wake::PollSockets`], when the lifeline closed: the caller then
    /// finds its peer gone).
    pub fn sleep(&self, prepared: Prepared<'_>, timeout: Duration) -> bool {
        let timed_out = match &self.wake {
            Wake::Event(ev, _) => ev.wait(timeout),
            Wake::PollSockets { sleep_on, .. } => !lifeline::sleep_until_kicked(sleep_on, timeout),
            _ => futex::wait(&self.word().seq, prepared.key, timeout),
        };
        self.word().sleepers.fetch_sub(1, Ordering::Relaxed);
        if let Some(guard) = prepared.sole {
            // Hand the event to the next sleeper of this process, if any.
            MutexGuard::unlock_fair(guard);
        }
        timed_out
    }

    /// Tells the notifier that this waiter yields its CPU to it rather than
    /// sleep, until the returned guard drops: a notifier that finds the flag
    /// ([`Self::take_hand_over`]) should yield back once it has notified.
    pub fn hand_over(&self) -> HandingOver<'_> {
        // SYNC(handed): Relaxed, a hint that orders nothing. The notifier
        // needs it only when it runs on this very CPU, where it runs after
        // our yield, so it sees this store; elsewhere a late or stale flag
        // costs one needless yield at most.
        self.word().handed.store(1, Ordering::Relaxed);
        HandingOver(self)
    }

    /// Whether a waiter handed its CPU over ([`Self::hand_over`]); clears
    /// the flag, so one hand-over is answered by one yield. Call after a
    /// notify; costs one load of the line `notify` just read.
    #[inline]
    pub fn take_hand_over(&self) -> bool {
        let handed = &self.word().handed;
        // SYNC(handed): Relaxed, see `hand_over`.
        handed.load(Ordering::Relaxed) != 0 && handed.swap(0, Ordering::Relaxed) != 0
    }

    /// For a waiter that parks elsewhere (main in `poll`): raise or lower the flag
    /// that asks notifiers to wake it. Raising is followed by a SeqCst fence.
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
    /// Returns whether the other side was asleep (or asked to be told), and
    /// was woken.
    #[inline]
    pub fn notify(&self) -> bool {
        // SYNC(sleepers): ↔ the fence in `prepare`/`set_waiting` (Dekker pair).
        fence(Ordering::SeqCst);
        self.wake_if_asleep()
    }

    /// [`Self::notify`] of several doorbells, after one fence.
    #[inline]
    pub fn notify_each<const N: usize>(bells: [&Doorbell; N]) {
        // SYNC(sleepers): ↔ the fence in `prepare`/`set_waiting` (Dekker pair).
        fence(Ordering::SeqCst);
        for bell in bells {
            bell.wake_if_asleep();
        }
    }

    /// The second half of a notify, after its fence.
    #[inline]
    fn wake_if_asleep(&self) -> bool {
        let asleep = self.word().sleepers.load(Ordering::Relaxed) != 0;
        if asleep {
            self.wake();
        }
        asleep
    }

    /// How long one sleep lasts before the sleeper looks at its peer's
    /// liveness itself. A `poll` sleeper learns of a death from the lifeline,
    /// so it needs no slice at all.
    pub(super) fn park_slice(&self) -> Duration {
        match self.wake {
            Wake::PollSockets { .. } => POLL_PARK_SLICE,
            _ => PARK_SLICE,
        }
    }

    /// Wakes the sleeping side unconditionally, as many sleepers as its
    /// [`Wake`] allows (after a notify that saw one, or at shutdown).
    #[cold]
    pub fn wake(&self) {
        match &self.wake {
            Wake::Futex { at_most } => {
                // SYNC(seq): Release → Acquire in `prepare`.
                self.word().seq.fetch_add(1, Ordering::Release);
                futex::wake(&self.word().seq, *at_most);
            }
            Wake::Event(ev, _) => {
                // SYNC(seq): Release → Acquire in `prepare`.
                self.word().seq.fetch_add(1, Ordering::Release);
                ev.set();
            }
            Wake::Kick(fd) | Wake::PollSockets { kick: fd, .. } => lifeline::kick(fd.as_raw_fd()),
        }
    }
}

/// A waiter's hand-over in progress; see [`Doorbell::hand_over`]. Dropping
/// it withdraws the flag, if the notifier has not taken it.
pub(crate) struct HandingOver<'a>(&'a Doorbell);

impl Drop for HandingOver<'_> {
    fn drop(&mut self) {
        // SYNC(handed): Relaxed, see `Doorbell::hand_over`.
        self.0.word().handed.store(0, Ordering::Relaxed);
    }
}

/// A doorbell announced as about to sleep; see [`Doorbell::prepare`].
pub(crate) struct Prepared<'a> {
    key: u32,
    /// Under the `raw_sync` backend: this thread's turn as the event's sleeper.
    sole: Option<MutexGuard<'a, ()>>,
}
