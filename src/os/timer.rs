//! A timer descriptor: readable once its deadline passed, so deadlines can
//! sit in the same epoll set as everything else main waits for.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Timer {
    fd: OwnedFd,
    /// The deadline it is set to, if any.
    set_for: Option<Instant>,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        let flags = libc::TFD_CLOEXEC | libc::TFD_NONBLOCK;
        // SAFETY: timerfd_create takes a clock and flags, returns a new descriptor.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Timer { fd, set_for: None })
    }

    /// Makes it readable at `deadline` (`None`: never). A no-op when it is
    /// already set so.
    pub fn set(&mut self, deadline: Option<Instant>) {
        if deadline == self.set_for {
            return;
        }
        self.set_for = deadline;
        let after = deadline.map_or(Duration::ZERO, |d| {
            // Zero disarms: a deadline already past fires in a nanosecond.
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1))
        });
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a live local; a null old value is allowed.
        unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    }

    /// Clears its readability after it fired.
    pub fn clear(&mut self) {
        let mut expirations = 0u64;
        // SAFETY: reads 8 bytes into a live local; the descriptor is non-blocking.
        unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut expirations as *mut u64).cast(),
                size_of::<u64>(),
            )
        };
        self.set_for = None;
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
