//! Process descriptors: a way to learn that a child died which nothing the
//! child does can hide (a lifeline can be inherited by the child's own
//! children and kept open; a pidfd cannot).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A descriptor that becomes readable when process `pid` exits. `pid` must
/// be a child of ours not yet reaped, so that the number cannot have been
/// reused. Fails on kernels before 5.3.
pub(crate) fn open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns; close-on-exec by
    // the kernel's default for pidfds.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}
