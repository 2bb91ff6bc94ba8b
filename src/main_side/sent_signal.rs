//! [`SentSignal`]: lets a thread that sends to a renderer sleep until
//! main's outbox for it is empty, or until its ring has room for a message
//! the thread streams, instead of spinning.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Instant;

/// Sleepers waiting for one condition of one renderer's connection (its
/// outbox emptied; room for a streaming writer), and how they are woken.
/// Process-local: nothing here lives in shared memory.
#[derive(Default)]
pub(crate) struct SentSignal {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl SentSignal {
    /// Called after the outbox became empty, room appeared for a streaming
    /// writer, or the renderer went away: wakes the sleepers, if any, and
    /// says whether there were. One fence and one load when there are none.
    pub fn notify(&self) -> bool {
        // SYNC(sent): ↔ the SeqCst increment in `sleep` (Dekker pair): either
        // we see the sleeper, or it sees the emptied outbox.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) != 0 {
            // Taken so that a sleeper between its check and its wait
            // cannot miss this.
            let _guard = self.lock.lock();
            self.cond.notify_all();
            return true;
        }
        false
    }

    /// Sleeps until `done()` or `until`, whichever comes first; returns
    /// `done()`. `done` is checked under the lock `notify` takes.
    pub fn sleep(&self, until: Instant, mut done: impl FnMut() -> bool) -> bool {
        // SYNC(sent): ↔ the fence in `notify` (Dekker pair).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let finished = loop {
            if done() {
                break true;
            }
            if self.cond.wait_until(&mut guard, until).timed_out() {
                break done();
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        finished
    }
}
