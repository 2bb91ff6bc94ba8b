//! Small descriptor utilities. Each is one async-signal-safe syscall, so they
//! may run in a `pre_exec` hook between `fork` and `exec`.

use std::io;
use std::os::fd::RawFd;

/// Sets or clears `FD_CLOEXEC`.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD on a descriptor number has no memory effects.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flag) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fstat(fd)`.
pub(crate) fn stat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one `stat`.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded and filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// The `(st_dev, st_ino)` pair naming the open file behind `fd`.
pub(crate) fn identity(fd: RawFd) -> io::Result<(u64, u64)> {
    let st = stat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// What kind of file a descriptor names, as far as ringipc cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Socket,
    Other,
}

/// The kind of file behind `fd`.
pub(crate) fn kind(fd: RawFd) -> io::Result<Kind> {
    Ok(match stat(fd)?.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::Regular,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::Other,
    })
}
