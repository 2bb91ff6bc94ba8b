//! Forked child processes: [`fork_child`] and the [`ChildProcess`] that reaps the child.
//! The fork-safety rules are in the parent module's docs.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;
use std::time::{Duration, Instant};

use super::BoxError;

/// How long a child gets to exit on its own before it is killed.
pub(super) const CHILD_EXIT_GRACE: Duration = Duration::from_secs(2);

/// How a reaped child ended.
#[derive(Clone, Copy)]
enum Exit {
    Status(libc::c_int),
    /// `waitpid` failed: someone else reaped the child (or SIGCHLD is ignored).
    Unknown,
}

/// A forked child. Dropping it waits [`CHILD_EXIT_GRACE`] for the child to exit, then kills it;
/// either way the child is reaped.
pub(super) struct ChildProcess {
    pub(super) pid: libc::pid_t,
    exit: Option<Exit>,
}

impl ChildProcess {
    /// Reaps the child if it has exited; never blocks.
    fn try_reap(&mut self) -> bool {
        if self.exit.is_some() {
            return true;
        }
        let mut status: libc::c_int = 0;
        // SAFETY: `pid` is our own, not yet reaped child and `status` is a valid out-pointer.
        let ret = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match ret {
            0 => false,
            r if r == self.pid => {
                self.exit = Some(Exit::Status(status));
                true
            }
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => false,
            _ => {
                self.exit = Some(Exit::Unknown);
                true
            }
        }
    }

    fn exited_cleanly(&self) -> bool {
        matches!(self.exit, Some(Exit::Status(s)) if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0)
    }

    pub(super) fn ensure_alive(&mut self) -> Result<(), BoxError> {
        if self.try_reap() {
            return Err(format!("child process {} died", self.pid).into());
        }
        Ok(())
    }

    fn kill_and_reap(&mut self) {
        if self.exit.is_some() {
            return;
        }
        // SAFETY: the child has not been reaped yet, so `pid` cannot have been reused by an
        // unrelated process; SIGKILL has no further preconditions.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: as in `try_reap`; blocks until the killed child is gone.
            let ret = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if ret == self.pid {
                self.exit = Some(Exit::Status(status));
                return;
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                self.exit = Some(Exit::Unknown);
                return;
            }
        }
    }

    /// Waits up to `grace` for the child to exit on its own, kills it afterwards. Returns
    /// whether it exited on its own with status 0.
    pub(super) fn finish(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        while !self.try_reap() {
            if Instant::now() >= deadline {
                self.kill_and_reap();
                return false;
            }
            // Polling, not synchronisation: waitpid has no timeout variant.
            thread::sleep(Duration::from_micros(200));
        }
        self.exited_cleanly()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.finish(CHILD_EXIT_GRACE);
    }
}

/// Forks. The child drops `parent_side` (so it does not keep the parent's descriptors alive),
/// runs `body` and exits with `_exit`; it never returns. The parent gets `parent_side` back,
/// while `body`, together with everything it captured, is dropped in the parent.
pub(super) fn fork_child<P>(
    parent_side: P,
    body: impl FnOnce() -> Result<(), BoxError>,
) -> io::Result<(P, ChildProcess)> {
    // SAFETY: getpid has no preconditions.
    let parent_pid = unsafe { libc::getpid() };
    // SAFETY: the module requires a single-threaded process at this point (see the `peers`
    // module docs), so the child's copy of the address space holds no lock owned by a vanished
    // thread.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok((parent_side, ChildProcess { pid, exit: None }));
    }

    drop(parent_side);
    // SAFETY: PR_SET_PDEATHSIG only takes integer arguments and affects just this process.
    // The signal is passed as c_ulong because the variadic prctl reads unsigned longs.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    // SAFETY: getppid has no preconditions.
    let parent_still_there = unsafe { libc::getppid() } == parent_pid;
    // If the parent died before prctl took effect, no death signal would ever come.
    let code = if !parent_still_there {
        3
    } else {
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                eprintln!("peer child {}: {e}", std::process::id());
                1
            }
            Err(_) => 2,
        }
    };
    // SAFETY: _exit is always safe to call. It is used instead of `exit` so that the child
    // does not run atexit handlers or flush stdio buffers inherited from the parent.
    unsafe { libc::_exit(code) }
}
