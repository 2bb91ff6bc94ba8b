//! The one place that calls `poll(2)`.

use std::os::fd::RawFd;
use std::time::Duration;

/// A `pollfd` asking for `events` on `fd`.
pub(crate) fn entry(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Waits until one of `fds` is ready or `timeout` passes (`None`: no
/// timeout; a non-zero timeout shorter than a millisecond waits one).
/// Returns how many are ready: 0 on timeout, on `EINTR` and on error, which
/// every caller treats alike (it looks again, or at its peer's liveness).
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> usize {
    let ms = match timeout {
        None => -1,
        Some(t) if t.is_zero() => 0,
        Some(t) => t.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int,
    };
    // SAFETY: `fds` is a live, initialised slice of pollfd structs, of its length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    n.max(0) as usize
}
