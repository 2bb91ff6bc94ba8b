//! The comparison's peers that need other crates: ipc-channel 0.23 and
//! iceoryx2 0.10, compiled only with `--features peers`.
//!
//! Every peer forks a child process that runs the "remote" side (echo server or message
//! counter) while the parent measures. The children are stopped, reaped and - for iceoryx2 -
//! cleaned up on drop. iceoryx2 runs in a domain private to this process (see `iox_config`);
//! after the last peer is dropped, [`remove_iceoryx2_domain`] removes what iceoryx2 keeps by
//! design, so that a run leaves nothing behind in `/dev/shm` or the temp directory.
//!
//! Fork safety: the peers must be created while the process is single-threaded (the case for
//! a plain `main`, *not* for the libtest harness). The child continues with a copy of the
//! address space in which only the forking thread exists; any lock held by another thread at
//! the time of the fork (e.g. inside the allocator) would stay locked forever in the child.
//!
//! No iceoryx2 object crosses the fork: the child creates its own node, services and ports
//! after forking, and the parent creates its own only after the child reported them ready (no
//! open/create race). Inherited objects would be broken anyway, since iceoryx2 ties a node's
//! liveness to an `fcntl` lock, which is per process and not inherited. What *is* inherited is
//! iceoryx2's cached per-process id, see [`remove_iceoryx2_domain`] for the consequence.
//!
//! Peers are meant to be used one at a time: a child inherits every file descriptor that the
//! parent has open at the time of the fork, including those of other live peers.

use std::error::Error;
use std::hint::{black_box, spin_loop};
use std::io;
use std::mem::size_of;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use iceoryx2::node::NodeView;
use iceoryx2::port::client::Client;
use iceoryx2::port::listener::{Listener, ListenerWaitError};
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
// `ipc` is taken by iceoryx2's service type module, hence the explicit ipc-channel paths.
use ipc_channel::IpcError;
use ipc_channel::ipc::{IpcReceiver, IpcSender, channel as ipc_channel_pair};

pub type BoxError = Box<dyn Error>;

use crate::RoundTrip;

type Msg16 = [u8; 16];

/// Payload of the one-way rate test for ipc-channel. serde only implements its traits for
/// arrays of up to 32 elements, so 64 bytes are sent as two halves (postcard encodes this as
/// exactly 64 bytes, no length prefix).
type Msg64Halves = ([u8; 32], [u8; 32]);

/// How long a child gets to exit on its own before it is killed.
const CHILD_EXIT_GRACE: Duration = Duration::from_secs(2);
/// Upper bound for a child to create its iceoryx2 ports.
const CHILD_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Blocking waits time out this often so that a stop request or a dead peer is noticed even
/// if no notification arrives. A timed and an untimed wait cost the same in iceoryx2 0.10
/// (both set `SO_RCVTIMEO` before every `recvfrom`).
const IDLE_WAKEUP: Duration = Duration::from_millis(20);
/// Busy-polling loops check the child's liveness only every this many spins.
const LIVENESS_CHECK_SPINS: u32 = 1 << 20;

/// A request whose content changes per call, so the echo is actually verified.
fn request(seq: u64) -> Msg16 {
    let mut msg = [0x5a; 16];
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    msg
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// How a reaped child ended.
#[derive(Clone, Copy)]
enum Exit {
    Status(libc::c_int),
    /// `waitpid` failed: someone else reaped the child (or SIGCHLD is ignored).
    Unknown,
}

/// A forked child. Dropping it waits [`CHILD_EXIT_GRACE`] for the child to exit, then kills it;
/// either way the child is reaped.
struct ChildProcess {
    pid: libc::pid_t,
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

    fn ensure_alive(&mut self) -> Result<(), BoxError> {
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
    fn finish(&mut self, grace: Duration) -> bool {
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
fn fork_child<P>(
    parent_side: P,
    body: impl FnOnce() -> Result<(), BoxError>,
) -> io::Result<(P, ChildProcess)> {
    // SAFETY: getpid has no preconditions.
    let parent_pid = unsafe { libc::getpid() };
    // SAFETY: the module requires a single-threaded process at this point (see module docs),
    // so the child's copy of the address space holds no lock owned by a vanished thread.
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

// ---------------------------------------------------------------------------------------------
// ipc-channel peers
// ---------------------------------------------------------------------------------------------

/// Round trips over two ipc-channel channels (Unix `SOCK_SEQPACKET` socket pairs on Linux).
/// They are created before the fork; each process closes the ends it does not use, so the
/// child sees `Disconnected` as soon as the parent drops its sender.
pub struct IpcChannelEcho {
    // Declared first so it is dropped first: closing it is the child's stop signal.
    to_child: IpcSender<Msg16>,
    from_child: IpcReceiver<Msg16>,
    child: ChildProcess,
    seq: u64,
}

impl IpcChannelEcho {
    pub fn start() -> Result<Self, BoxError> {
        let (to_child, child_rx) = ipc_channel_pair::<Msg16>()?;
        let (child_tx, from_child) = ipc_channel_pair::<Msg16>()?;
        let ((to_child, from_child), child) = fork_child((to_child, from_child), move || {
            echo_ipc_channel(child_rx, child_tx)
        })?;
        Ok(Self {
            to_child,
            from_child,
            child,
            seq: 0,
        })
    }
}

fn echo_ipc_channel(rx: IpcReceiver<Msg16>, tx: IpcSender<Msg16>) -> Result<(), BoxError> {
    loop {
        match rx.recv() {
            Ok(msg) => tx.send(msg)?,
            Err(IpcError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

impl RoundTrip for IpcChannelEcho {
    fn name(&self) -> &'static str {
        "ipc-channel 0.23"
    }

    fn round_trip(&mut self) {
        self.seq += 1;
        let req = request(self.seq);
        self.to_child.send(req).expect("ipc-channel: send failed");
        // A dead child closes its sender, so this cannot hang.
        let reply = self
            .from_child
            .recv()
            .unwrap_or_else(|e| panic!("ipc-channel: no reply (child {}): {e}", self.child.pid));
        assert_eq!(reply, req, "ipc-channel: wrong echo");
    }
}

/// Sends `n` 64-byte messages from the parent to a forked child over ipc-channel; returns
/// messages per second from the first send until the child acknowledged the last one.
pub fn ipc_channel_messages_per_second(n: u64) -> f64 {
    ipc_channel_rate(n).expect("ipc-channel rate benchmark failed")
}

fn ipc_channel_rate(n: u64) -> Result<f64, BoxError> {
    let (data_tx, data_rx) = ipc_channel_pair::<Msg64Halves>()?;
    let (ack_tx, ack_rx) = ipc_channel_pair::<u64>()?;
    let ((data_tx, ack_rx), _child) = fork_child((data_tx, ack_rx), move || {
        for _ in 0..n {
            black_box(data_rx.recv()?);
        }
        ack_tx.send(n)?;
        Ok(())
    })?;

    let msg: Msg64Halves = ([0xa5; 32], [0x5a; 32]);
    let start = Instant::now();
    for _ in 0..n {
        // Blocks while the socket buffer is full, so nothing is dropped.
        data_tx.send(msg)?;
    }
    let acked = ack_rx.recv()?;
    let elapsed = start.elapsed();
    if acked != n {
        return Err(format!("child acknowledged {acked} of {n} messages").into());
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// iceoryx2 plumbing
// ---------------------------------------------------------------------------------------------

/// Start/stop handshake between parent and child, in an anonymous `MAP_SHARED` page.
/// It lives outside iceoryx2 on purpose: it must work before the child's iceoryx2 ports exist
/// and when their creation fails, and it leaves no file behind.
#[repr(C)]
struct Control {
    /// Startup progress reported by the child, see the `PHASE_*` constants.
    phase: AtomicU32,
    /// Set by the parent when the child should shut down gracefully.
    stop: AtomicU32,
}

/// The child created its services and ports.
const PHASE_PORTS_CREATED: u32 = 1;
/// The child's subscriber is connected to the parent's publisher (rate test only).
const PHASE_CONNECTED: u32 = 2;

impl Control {
    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire) != 0
    }

    fn report_phase(&self, phase: u32) {
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
/// [`remove_iceoryx2_domain`]); that function removes such remains at the end of the run.
struct IoxChild {
    process: ChildProcess,
    control: SharedControl,
}

impl IoxChild {
    fn spawn(body: impl FnOnce(&Control) -> Result<(), BoxError>) -> Result<Self, BoxError> {
        iox_config(); // initialise before forking, see there
        let control = SharedControl::new()?;
        let ((), process) = fork_child((), || body(&control))?;
        let mut child = Self { process, control };
        child.wait_for_phase(PHASE_PORTS_CREATED)?;
        Ok(child)
    }

    /// Bounded poll until the child reports `phase`; fails early if the child dies.
    fn wait_for_phase(&mut self, phase: u32) -> Result<(), BoxError> {
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

    fn request_stop(&self) {
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
struct ServiceNames {
    prefix: String,
}

impl ServiceNames {
    fn new() -> Self {
        static INSTANCE: AtomicU64 = AtomicU64::new(0);
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        Self {
            prefix: format!("ringipc-compare/{}/{instance}", std::process::id()),
        }
    }

    fn get(&self, purpose: &str) -> Result<ServiceName, BoxError> {
        Ok(ServiceName::new(&format!("{}/{purpose}", self.prefix))?)
    }
}

fn iox_node() -> Result<Node<ipc::Service>, BoxError> {
    // Signal handling disabled: otherwise iceoryx2 may install SIGINT/SIGTERM handlers, and
    // Ctrl-C would only be reported through `Node::wait`, which the benchmark never calls.
    Ok(NodeBuilder::new()
        .config(iox_config())
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()?)
}

/// Sleeps until a notification arrives or `timeout` passes; returns whether one arrived.
fn wait_for_event(listener: &Listener<ipc::Service>, timeout: Duration) -> Result<bool, BoxError> {
    match listener.timed_wait(|_| {}, timeout) {
        Ok(count) => Ok(count > 0),
        // A signal is not an error for us: the callers re-check their condition anyway.
        Err(ListenerWaitError::InterruptSignal) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The iceoryx2 configuration used by all peers: the global config with a domain private to
/// this process (own file prefix and root directory, both containing the pid).
///
/// Why private: every iceoryx2 0.10 node creation opens or creates a *persistent* shared memory
/// segment, `/dev/shm/<prefix>node.<version>.global_mgmt` (a machine-wide node counter), that no
/// drop ever removes. It may only be removed when no other process uses the domain, which we can
/// only guarantee for a domain of our own. Likewise, the remains of a killed child can only be
/// removed by force, which is only safe in a domain of our own.
///
/// Must be initialised before the first fork so that parent and children agree on it.
fn iox_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        // Its warnings (such as "no config file was loaded") would land in the table.
        set_log_level_from_env_or(LogLevel::Error);
        let pid = std::process::id();
        let mut config = Config::global_config().clone();
        config.global.prefix =
            FileName::new(format!("iox2rc{pid}_").as_bytes()).expect("valid iceoryx2 prefix");
        let root = std::env::temp_dir().join(format!("ringipc-compare-iox2-{pid}/"));
        let root = root.to_str().expect("temp dir is UTF-8");
        config.global.set_root_path(
            &iceoryx2::prelude::Path::new(root.as_bytes()).expect("valid iceoryx2 root path"),
        );
        config
    })
}

/// The private iceoryx2 root directory used by the peers (see [`iox_config`]).
pub fn iceoryx2_root_dir() -> PathBuf {
    PathBuf::from(iox_config().global.root_path().to_string())
}

/// Removes the peers' private iceoryx2 domain: its root directory and every `/dev/shm` entry
/// with its prefix. Call it after the last peer was dropped.
///
/// After graceful runs only iceoryx2's persistent global management segment and the empty
/// root, `nodes` and `services` directories are left. After a child had to be killed, its node,
/// ports and services are left as well, and iceoryx2's own cleanup (`try_cleanup_dead_nodes`,
/// `DeadNodeView`) cannot remove them from this process tree: iceoryx2 caches a per-process
/// "unique process id" in a static once the parent created its first node, forked children
/// inherit it, and a node whose owner id equals one's own counts as alive - so the parent and
/// all later children see a killed child's node as alive forever. Hence the removal by force.
///
/// Refuses (removing nothing) while a node of the domain belongs to a live process, i.e. to
/// this process or to a child that has not been reaped.
pub fn remove_iceoryx2_domain() -> Result<(), BoxError> {
    let config = iox_config();
    let root = iceoryx2_root_dir();
    if root.exists() {
        let own_pid = std::process::id() as libc::pid_t;
        let mut live_owners = Vec::new();
        Node::<ipc::Service>::list(config, |state| {
            let details = match &state {
                NodeState::Alive(view) => view.details(),
                NodeState::Dead(view) => view.details(),
                NodeState::Inaccessible(_) | NodeState::Undefined(_) => &None,
            };
            if let Some(pid) = details.as_ref().map(|d| d.process_id().value())
                && (pid == own_pid || process_exists(pid))
            {
                live_owners.push(pid);
            }
            CallbackProgression::Continue
        })?;
        if !live_owners.is_empty() {
            return Err(format!(
                "iceoryx2 domain still has nodes of live processes {live_owners:?}"
            )
            .into());
        }
        std::fs::remove_dir_all(&root)?;
    }
    let prefix = config.global.prefix.to_string();
    for entry in std::fs::read_dir("/dev/shm")? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            // Unlinking the file is what shm_unlink does on Linux.
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 performs only the existence and permission check, nothing is sent.
    let ret = unsafe { libc::kill(pid, 0) };
    ret == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

// ---------------------------------------------------------------------------------------------
// iceoryx2 request-response peer
// ---------------------------------------------------------------------------------------------

/// The blocking variant's wake-up channels, seen from the parent.
struct ParentEvents {
    to_child: Notifier<ipc::Service>,
    from_child: Listener<ipc::Service>,
}

/// Round trips over iceoryx2's request-response pattern; the forked child is the server.
/// Busy-poll mode spins on both sides; blocking mode pairs each message with an event
/// notification so that both sides sleep in the kernel while waiting.
pub struct IceoryxRequestResponse {
    // Ports before node; the child last, so it is stopped after the parent's ports are gone.
    client: Client<ipc::Service, Msg16, (), Msg16, ()>,
    events: Option<ParentEvents>,
    _node: Node<ipc::Service>,
    child: IoxChild,
    seq: u64,
}

impl IceoryxRequestResponse {
    pub fn start(blocking: bool) -> Result<Self, BoxError> {
        let names = ServiceNames::new();
        // The child creates the services and its ports before it reports, so the parent can
        // simply `open`, and its first request already finds a server. A request sent before
        // the server has attached to the client's request queue just waits in that queue.
        let child = IoxChild::spawn(|control| serve_echo_requests(control, &names, blocking))?;

        let node = iox_node()?;
        let service = node
            .service_builder(&names.get("rr")?)
            .request_response::<Msg16, Msg16>()
            .open()?;
        let client = service.client_builder().create()?;
        let events = if blocking {
            let to_child = node
                .service_builder(&names.get("to-child")?)
                .event()
                .open()?;
            let from_child = node
                .service_builder(&names.get("from-child")?)
                .event()
                .open()?;
            Some(ParentEvents {
                to_child: to_child.notifier_builder().create()?,
                from_child: from_child.listener_builder().create()?,
            })
        } else {
            None
        };
        Ok(Self {
            client,
            events,
            _node: node,
            child,
            seq: 0,
        })
    }

    fn try_round_trip(&mut self) -> Result<(), BoxError> {
        self.seq += 1;
        let req = request(self.seq);
        let pending = self.client.send_copy(req)?;
        if pending.number_of_server_connections() == 0 {
            return Err("request was sent to no server".into());
        }
        if let Some(events) = &self.events {
            // 0 would leave the child asleep until its idle timeout: a silent 20 ms round trip.
            if events.to_child.notify()? == 0 {
                return Err("notification reached no listener".into());
            }
        }
        let mut spins: u32 = 0;
        loop {
            if let Some(response) = pending.receive()? {
                if *response.payload() != req {
                    return Err("wrong echo".into());
                }
                return Ok(());
            }
            match &self.events {
                Some(events) => {
                    // A notification may be stale (its response was consumed without waiting
                    // in the previous call); the loop then just waits once more.
                    if !wait_for_event(&events.from_child, IDLE_WAKEUP)? {
                        self.child.process.ensure_alive()?;
                    }
                }
                None => {
                    spin_loop();
                    spins = spins.wrapping_add(1);
                    if spins % LIVENESS_CHECK_SPINS == 0 {
                        self.child.process.ensure_alive()?;
                    }
                }
            }
        }
    }
}

/// Child side of [`IceoryxRequestResponse`]: echoes every request until told to stop.
fn serve_echo_requests(
    control: &Control,
    names: &ServiceNames,
    blocking: bool,
) -> Result<(), BoxError> {
    let node = iox_node()?;
    let service = node
        .service_builder(&names.get("rr")?)
        .request_response::<Msg16, Msg16>()
        .create()?;
    let server = service.server_builder().create()?;
    let events = if blocking {
        let to_child = node
            .service_builder(&names.get("to-child")?)
            .event()
            .create()?;
        let from_child = node
            .service_builder(&names.get("from-child")?)
            .event()
            .create()?;
        Some((
            to_child.listener_builder().create()?,
            from_child.notifier_builder().create()?,
        ))
    } else {
        None
    };
    control.report_phase(PHASE_PORTS_CREATED);

    while !control.stop_requested() {
        while let Some(active_request) = server.receive()? {
            active_request.send_copy(*active_request.payload())?;
            if let Some((_, notifier)) = &events
                && notifier.notify()? == 0
            {
                return Err("notification reached no listener".into());
            }
        }
        match &events {
            // Requests that arrive between draining and waiting are not lost: their
            // notification is counted and makes the wait return immediately.
            Some((listener, _)) => {
                wait_for_event(listener, IDLE_WAKEUP)?;
            }
            None => spin_loop(),
        }
    }
    Ok(())
}

impl RoundTrip for IceoryxRequestResponse {
    fn name(&self) -> &'static str {
        if self.events.is_some() {
            "iceoryx2 0.10 req/resp + event, blocking"
        } else {
            "iceoryx2 0.10 req/resp, busy-poll"
        }
    }

    fn round_trip(&mut self) {
        if let Err(e) = self.try_round_trip() {
            panic!("{}: round trip failed: {e}", self.name());
        }
    }
}

impl Drop for IceoryxRequestResponse {
    fn drop(&mut self) {
        self.child.request_stop();
        // Wake a sleeping child right away instead of after its next idle timeout.
        if let Some(events) = &self.events {
            let _ = events.to_child.notify();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// iceoryx2 one-way rate
// ---------------------------------------------------------------------------------------------

/// Subscriber queue depth for the rate test.
const RATE_BUFFER: usize = 1024;

/// Sends `n` 64-byte messages via iceoryx2 publish-subscribe to a forked, busy-polling child;
/// returns messages per second from the first send until the child acknowledged the last one.
pub fn iceoryx2_messages_per_second(n: u64) -> f64 {
    iceoryx2_rate(n).expect("iceoryx2 rate benchmark failed")
}

fn iceoryx2_rate(n: u64) -> Result<f64, BoxError> {
    let names = ServiceNames::new();
    let mut child = IoxChild::spawn(|control| count_samples(control, &names, n))?;

    let node = iox_node()?;
    let data = node
        .service_builder(&names.get("data")?)
        .publish_subscribe::<[u8; 64]>()
        .open()?;
    let ack = node
        .service_builder(&names.get("ack")?)
        .publish_subscribe::<u64>()
        .open()?;
    let ack_subscriber = ack.subscriber_builder().create()?;
    // With safe overflow disabled on the service, a full subscriber queue makes the publisher
    // retry instead of dropping, so the child's count is exact.
    let publisher = data
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()?;
    // RetryUntilDelivered only blocks once the receiver has attached to the connection: while
    // it has not, a full queue makes iceoryx2 silently drop the sample ("no connected receiver
    // and the buffer is full", to avoid a deadlock) and send_copy returns 0 recipients. A
    // subscriber attaches lazily on its next receive(), and a descheduled child may not get
    // there before 1024 samples are queued, so wait for the child to confirm.
    child.wait_for_phase(PHASE_CONNECTED)?;

    let msg = [0xa5u8; 64];
    let start = Instant::now();
    for _ in 0..n {
        if publisher.send_copy(msg)? == 0 {
            return Err("sample was delivered to no subscriber".into());
        }
    }
    let mut spins: u32 = 0;
    let acked = loop {
        if let Some(sample) = ack_subscriber.receive()? {
            break *sample.payload();
        }
        spin_loop();
        spins = spins.wrapping_add(1);
        if spins % LIVENESS_CHECK_SPINS == 0 {
            child.process.ensure_alive()?;
        }
    };
    let elapsed = start.elapsed();
    if acked != n {
        return Err(format!("child acknowledged {acked} of {n} messages").into());
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// Child side of the rate test: counts `n` samples, then acknowledges with the count.
fn count_samples(control: &Control, names: &ServiceNames, n: u64) -> Result<(), BoxError> {
    let node = iox_node()?;
    let data = node
        .service_builder(&names.get("data")?)
        .publish_subscribe::<[u8; 64]>()
        .subscriber_max_buffer_size(RATE_BUFFER)
        .history_size(0)
        .enable_safe_overflow(false)
        .create()?;
    let ack = node
        .service_builder(&names.get("ack")?)
        .publish_subscribe::<u64>()
        .create()?;
    let subscriber = data
        .subscriber_builder()
        .buffer_size(RATE_BUFFER)
        .create()?;
    let ack_publisher = ack.publisher_builder().create()?;
    control.report_phase(PHASE_PORTS_CREATED);

    // A publisher registers itself only after it has set up its connections, so once it is
    // visible, update_connections() attaches the subscriber to it as receiver.
    while data.dynamic_config().number_of_publishers() == 0 {
        if control.stop_requested() {
            return Err("stopped before a publisher appeared".into());
        }
        thread::sleep(Duration::from_micros(50));
    }
    subscriber.update_connections()?;
    control.report_phase(PHASE_CONNECTED);

    let mut count: u64 = 0;
    while count < n {
        match subscriber.receive()? {
            Some(sample) => {
                black_box(sample.payload());
                count += 1;
            }
            None if control.stop_requested() => {
                return Err(format!("stopped after {count} of {n} samples").into());
            }
            None => spin_loop(),
        }
    }
    ack_publisher.send_copy(count)?;
    // Keep the ack publisher (whose memory holds the ack sample) alive until the parent has
    // read it; the parent requests the stop only afterwards. Timing is over, so sleep.
    while !control.stop_requested() {
        thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}
