//! [`DispatcherWaker`]: wakes main's dispatcher from any thread, through a
//! socket it polls beside the lifelines.

use crate::os::lifeline;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Wakes the dispatcher: raises `poked` (so a dispatcher that is awake sees
/// the news without a syscall of its own) and kicks the control socket (so a
/// sleeping one wakes).
#[derive(Clone)]
pub(crate) struct DispatcherWaker {
    poked: Arc<AtomicBool>,
    write_end: Arc<OwnedFd>,
}

impl DispatcherWaker {
    pub fn new(write_end: OwnedFd) -> Self {
        DispatcherWaker {
            poked: Arc::new(AtomicBool::new(false)),
            write_end: Arc::new(write_end),
        }
    }

    pub fn wake(&self) {
        // SYNC(poked): Release → Acquire in `take_poke`; publishes whatever
        // the waker changed before (a new renderer queued, a disconnect).
        self.poked.store(true, Ordering::Release);
        lifeline::kick(self.write_end.as_raw_fd());
    }

    /// Whether a wake is pending, without clearing it.
    pub fn is_poked(&self) -> bool {
        // SYNC(poked): Acquire ← Release in `wake`.
        self.poked.load(Ordering::Acquire)
    }

    /// Takes a pending wake: `true` at most once per `wake`.
    pub fn take_poke(&self) -> bool {
        // SYNC(poked): Acquire ← Release in `wake` (the Relaxed load only
        // skips the swap's cache-line write when nothing is pending).
        self.poked.load(Ordering::Relaxed) && self.poked.swap(false, Ordering::Acquire)
    }
}
