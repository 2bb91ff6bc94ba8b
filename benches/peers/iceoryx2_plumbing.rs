//! iceoryx2 plumbing shared by the iceoryx2 peers: the start/stop handshake with the forked
//! child, process-unique service names, node creation and event waits.

use std::io;
use std::mem::size_of;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use iceoryx2::port::listener::{Listener, ListenerWaitError};
use iceoryx2::prelude::*;

use super::BoxError;
use super::child::{CHILD_EXIT_GRACE, ChildProcess, fork_child};
use super::iceoryx2_domain::iox_config;

/// Upper bound for a child to create its iceoryx2 ports.
const CHILD_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Start/stop handshake between parent and child, in an anonymous `MAP_SHARED` page.
/// It lives outside iceoryx2 on purpose: it must work before the child's iceoryx2 ports exist
/// and when their creation fails, and it leaves no file behind.
#[repr(C)]
pub(super) struct Control {
    /// Startup progress reported by the child, see the `PHASE_*` constants.
    phase: AtomicU32,
    /// Set by the parent when the child should shut down gracefully.
    stop: AtomicU32,
}

/// The child created its services and ports.
pub(super) const PHASE_PORTS_CREATED: u32 = 1;
/// The child's subscriber is connected to the parent's publisher (rate test only).
pub(super) const PHASE_CONNECTED: u32 = 2;

impl Control {
    pub(super) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire) != 0
    }

    pub(super) fn report_phase(&self, phase: u32) {
        self.phase.store(phase, Ordering::Release);
    }
}

struct SharedControl(NonNull<Control>);

impl SharedControl {
    fn new() -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping without address hint cannot alias existing memory.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                size_of::<Control>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(addr.cast::<Control>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Self(ptr))
    }
}

impl Deref for SharedControl {
    type Target = Control;

    fn deref(&self) -> &Control {
        // SAFETY: the mapping is page-aligned, zero-filled (all-zero atomics are a valid
        // `Control`), only accessed through atomics and stays mapped until `drop`.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for SharedControl {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`; no reference into it outlives
        // `self` since `deref` borrows from `self`.
        unsafe { libc::munmap(self.0.as_ptr().cast(), size_of::<Control>()) };
    }
}

/// A forked child that runs iceoryx2 code, plus its control block.
/// Dropping it requests a graceful stop and reaps the child. A child that exits on its own
/// drops its node and ports, which removes all their files. A child that had to be killed
/// leaves its node behind, and iceoryx2 cannot clean that up from this process tree (see
/// [`remove_iceoryx2_domain`](super::remove_iceoryx2_domain)); that function removes such
/// remains at the end of the run.
pub(super) struct IoxChild {
    pub(super) process: ChildProcess,
    control: SharedControl,
}

impl IoxChild {
    pub(super) fn spawn(
        body: impl FnOnce(&Control) -> Result<(), BoxError>,
    ) -> Result<Self, BoxError> {
        iox_config(); // initialise before forking, see there
        let control = SharedControl::new()?;
        let ((), process) = fork_child((), || body(&control))?;
        let mut child = Self { process, control };
        child.wait_for_phase(PHASE_PORTS_CREATED)?;
        Ok(child)
    }

    /// Bounded poll until the child reports `phase`; fails early if the child dies.
    pub(super) fn wait_for_phase(&mut self, phase: u32) -> Result<(), BoxError> {
        let deadline = Instant::now() + CHILD_STARTUP_TIMEOUT;
        while self.control.phase.load(Ordering::Acquire) < phase {
            self.process.ensure_alive()?;
            if Instant::now() >= deadline {
                return Err(format!("child did not reach startup phase {phase} in time").into());
            }
            thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }

    pub(super) fn request_stop(&self) {
        self.control.stop.store(1, Ordering::Release);
    }
}

impl Drop for IoxChild {
    fn drop(&mut self) {
        self.request_stop();
        if !self.process.finish(CHILD_EXIT_GRACE) {
            eprintln!("peer child {} had to be killed", self.process.pid);
        }
    }
}

/// Process-unique service names: `ringipc-compare/<pid>/<instance>/<purpose>`.
pub(super) struct ServiceNames {
    prefix: String,
}

impl ServiceNames {
    pub(super) fn new() -> Self {
        static INSTANCE: AtomicU64 = AtomicU64::new(0);
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        Self {
            prefix: format!("ringipc-compare/{}/{instance}", std::process::id()),
        }
    }

    pub(super) fn get(&self, purpose: &str) -> Result<ServiceName, BoxError> {
        Ok(ServiceName::new(&format!("{}/{purpose}", self.prefix))?)
    }
}

pub(super) fn iox_node() -> Result<Node<ipc::Service>, BoxError> {
    // Signal handling disabled: otherwise iceoryx2 may install SIGINT/SIGTERM handlers, and
    // Ctrl-C would only be reported through `Node::wait`, which the benchmark never calls.
    Ok(NodeBuilder::new()
        .config(iox_config())
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()?)
}

/// Sleeps until a notification arrives or `timeout` passes; returns whether one arrived.
pub(super) fn wait_for_event(
    listener: &Listener<ipc::Service>,
    timeout: Duration,
) -> Result<bool, BoxError> {
    match listener.timed_wait(|_| {}, timeout) {
        Ok(count) => Ok(count > 0),
        // A signal is not an error for us: the callers re-check their condition anyway.
        Err(ListenerWaitError::InterruptSignal) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
