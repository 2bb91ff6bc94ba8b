//! The portable wait backend: a `raw_sync` process-shared event (a pthread mutex
//! and condvar with `PTHREAD_PROCESS_SHARED`) living in the segment.
//!
//! It exists so the crate is not married to Linux futexes. Its limit: `set` locks
//! a mutex in renderer-writable memory, so a hostile renderer that holds or
//! corrupts that mutex can stall main. The futex backend has no such lock.

use raw_sync::Timeout;
use raw_sync::events::{Event, EventImpl, EventInit, EventState};
use std::io;
use std::time::Duration;

pub(crate) struct RawEvent(Box<dyn EventImpl>);

// SAFETY: the event is a process-shared pthread mutex + condvar, which are made to
// be used from any thread; the box only holds pointers into the mapping.
unsafe impl Send for RawEvent {}
// SAFETY: as above; every method goes through the pthread mutex.
unsafe impl Sync for RawEvent {}

/// `timeout`, shortened so that now's nanoseconds plus its nanoseconds stay
/// under one second (with a millisecond to spare for the time raw_sync takes to
/// read the clock again).
fn within_this_second(timeout: Duration) -> Duration {
    const SECOND: u32 = 1_000_000_000;
    const SPARE: u32 = 1_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let room = SECOND.saturating_sub(now).saturating_sub(SPARE);
    Duration::new(timeout.as_secs(), timeout.subsec_nanos().min(room))
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("raw_sync event: {e}"))
}

impl RawEvent {
    /// Bytes the event needs at `ptr`.
    pub fn size_at(ptr: *mut u8) -> usize {
        Event::size_of(Some(ptr))
    }

    /// Initialises a manual-reset event in `ptr`.
    ///
    /// # Safety
    /// `ptr` must point to [`Self::size_at`] writable bytes that stay mapped while
    /// the event lives, and nobody else may be using them yet.
    pub unsafe fn create(ptr: *mut u8) -> io::Result<RawEvent> {
        // SAFETY: forwarded from the caller.
        let (ev, _) = unsafe { Event::new(ptr, false) }.map_err(io_err)?;
        Ok(RawEvent(ev))
    }

    /// Attaches to an event another process created at `ptr`.
    ///
    /// # Safety
    /// As for [`Self::create`], except the bytes hold an initialised event.
    pub unsafe fn open(ptr: *mut u8) -> io::Result<RawEvent> {
        // SAFETY: forwarded from the caller.
        let (ev, _) = unsafe { Event::from_existing(ptr) }.map_err(io_err)?;
        Ok(RawEvent(ev))
    }

    pub fn clear(&self) {
        let _ = self.0.set(EventState::Clear);
    }

    pub fn set(&self) {
        let _ = self.0.set(EventState::Signaled);
    }

    /// Returns `true` if the timeout expired (or the wait failed, which callers
    /// treat the same way: re-check, then wait again).
    ///
    /// `raw_sync` turns the timeout into an absolute `CLOCK_REALTIME` deadline
    /// without carrying nanoseconds into seconds, and glibc rejects the result
    /// with `EINVAL` whenever they overflow. So the wait is cut short at the
    /// next whole second; callers wait in slices anyway. A step of the wall
    /// clock can still lengthen or shorten one slice.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.0
            .wait(Timeout::Val(within_this_second(timeout)))
            .is_err()
    }
}
