//! The lifeline: a Unix socket pair between main and each renderer that lives
//! outside shared memory, so each side learns of the other's death from the
//! kernel (EOF) instead of trusting anything in the segment.
//!
//! It doubles as a doorbell both ways: main's dispatcher sleeps in `poll` on
//! every renderer's lifeline, and a renderer wakes it by writing one byte
//! ("kick"); a renderer's receiver thread sleeps in `poll` on its end, and
//! main kicks it when it sends a message.

use super::poll;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// A connected `AF_UNIX` stream pair, close-on-exec and non-blocking.
pub(crate) fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair returned two fresh descriptors that nothing else owns.
    let a = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let b = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((a, b))
}

/// Wakes the process at the other end. Never blocks: if the socket buffer is
/// full, earlier kicks are still unread and the peer will wake anyway.
pub(crate) fn kick(fd: RawFd) {
    let byte = 1u8;
    // SAFETY: reads one byte from a live local; the fd's owner keeps it open.
    unsafe {
        libc::send(
            fd,
            (&byte as *const u8).cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// Reads and discards pending kicks. Returns `false` once the peer has closed
/// its end (it exited or disconnected), `true` while it is alive.
pub(crate) fn drain_kicks(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 64];
    // Bounded so a renderer that floods its socket cannot keep main here.
    for _ in 0..16 {
        // SAFETY: `buf` is a writable local of the length passed.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => return false,
            n if n > 0 => continue,
            _ => {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => true,
                    io::ErrorKind::Interrupted => continue,
                    _ => false,
                };
            }
        }
    }
    true
}

/// Whether the peer still holds its end open, without consuming anything.
///
/// Asks `poll` for a hang-up rather than peeking for data: kicks the peer
/// wrote before it died may still be unread, and must not pass for life.
pub(crate) fn peer_alive(fd: &OwnedFd) -> bool {
    let mut p = [poll::entry(fd.as_raw_fd(), libc::POLLRDHUP)];
    poll::poll(&mut p, Some(Duration::ZERO)) == 0
        || p[0].revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) == 0
}

/// Whether kicks wait unread in `fd` (or its peer hung up), without reading.
pub(crate) fn has_kicks(fd: &OwnedFd) -> bool {
    let mut p = [poll::entry(fd.as_raw_fd(), libc::POLLIN)];
    poll::poll(&mut p, Some(Duration::ZERO)) > 0
}

/// Sleeps in `poll` until one of `fds` is kicked, or `timeout` passes, and
/// drains the kicks. Returns `true` if kicked, `false` on timeout or once a
/// peer closed its end (the caller then checks who is alive).
pub(crate) fn sleep_until_kicked(fds: &[Arc<OwnedFd>; 2], timeout: Duration) -> bool {
    let entry = |fd: &Arc<OwnedFd>| poll::entry(fd.as_raw_fd(), libc::POLLIN);
    let mut pollfds = [entry(&fds[0]), entry(&fds[1])];
    // A timeout beyond what `poll` takes means none at all.
    let timeout = (timeout.as_millis() <= libc::c_int::MAX as u128).then_some(timeout);
    if poll::poll(&mut pollfds, timeout) == 0 {
        return false;
    }
    let mut all_open = true;
    for (fd, p) in fds.iter().zip(&pollfds) {
        if p.revents != 0 {
            all_open &= drain_kicks(fd);
        }
    }
    all_open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_kicks_from_a_dead_peer_do_not_pass_for_life() {
        let (a, b) = pair().unwrap();
        assert!(peer_alive(&b));
        kick(a.as_raw_fd());
        assert!(peer_alive(&b), "alive with a kick pending");
        drop(a);
        assert!(!peer_alive(&b), "dead, though its kick is still unread");
        assert!(!drain_kicks(&b));
    }

    #[test]
    fn a_kick_or_a_hang_up_ends_the_sleep() {
        let (a, b) = pair().unwrap();
        let (c, d) = pair().unwrap();
        let (b, d) = (Arc::new(b), Arc::new(d));
        kick(c.as_raw_fd());
        assert!(sleep_until_kicked(&[b.clone(), d.clone()], Duration::MAX));
        assert!(!sleep_until_kicked(
            &[b.clone(), d.clone()],
            Duration::from_millis(1)
        ));
        drop(a);
        assert!(!sleep_until_kicked(&[b, d], Duration::MAX));
    }
}
