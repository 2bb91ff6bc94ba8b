//! Descriptors a spawned renderer inherits across `exec`: main marks exactly
//! its own two as inheritable in the child, and the renderer checks their
//! identities before it takes ownership of them.

use super::fd;
use super::invitation::InheritedFd;
use crate::error::{Error, Result};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

impl InheritedFd {
    /// `fd`'s number with the identity of the file it names now.
    pub fn of(fd: BorrowedFd<'_>) -> io::Result<InheritedFd> {
        let raw = fd.as_raw_fd();
        Ok(InheritedFd {
            fd: raw,
            id: fd::identity(raw)?,
        })
    }
}

/// Makes `fds` (created close-on-exec) inheritable in `command`'s child
/// only, through a `pre_exec` hook. A stale hook left on a reused `Command`
/// by an earlier spawn finds another file (or none) under its numbers and
/// leaves it alone.
pub(crate) fn pass_on_exec(command: &mut Command, fds: [InheritedFd; 2]) {
    let hook = move || {
        for InheritedFd { fd, id } in fds {
            if fd::identity(fd).ok() == Some(id) {
                fd::set_cloexec(fd, false)?;
            }
        }
        Ok(())
    };
    // SAFETY: the hook only calls `fstat` and `fcntl`, both async-signal-safe,
    // on plain integers captured by value.
    unsafe { command.pre_exec(hook) };
}

/// Checks that the invitation's descriptors are open and name the files main
/// meant, then takes ownership of them, in the order given. The caller makes
/// sure this runs at most once per process, with distinct descriptors.
pub(crate) fn claim<const N: usize>(fds: [InheritedFd; N]) -> Result<[OwnedFd; N]> {
    for InheritedFd { fd, id } in fds {
        match fd::identity(fd) {
            Ok(found) if found == id => {}
            Ok(_) => {
                return Err(Error::NotARenderer(format!(
                    "descriptor {fd} does not name the file main passed"
                )));
            }
            Err(e) => return Err(Error::NotARenderer(format!("descriptor {fd}: {e}"))),
        }
        // Keep our own children from inheriting the connection.
        fd::set_cloexec(fd, true)?;
    }
    // SAFETY: every descriptor is open, they are distinct (checked by
    // `Invitation::decode`), name the files main created for us, and the
    // caller claims them only once.
    Ok(fds.map(|InheritedFd { fd, .. }| unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// This process's parent.
pub(crate) fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() as u32 }
}
