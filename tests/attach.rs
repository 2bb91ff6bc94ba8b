//! Renderers that main did not spawn: attaching through `IpcMain::listen`,
//! the admission policy, clients that send garbage or stall, and a thousand
//! attach/detach cycles.

mod common;

use common::*;
use ringipc::{AttachPoint, Config, Error, IpcMain, IpcRenderer, Peer};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        "seed" => role_seed(&arg),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

/// A socket path of this test's own, removed (if left) on drop.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("ringipc-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn seed_main() -> IpcMain {
    let ipc = IpcMain::new().unwrap();
    ipc.on("synchronous-message", |event, arg| {
        assert_eq!(arg, b"ping");
        event.set_return_value("pong");
    })
    .unwrap();
    ipc.on("asynchronous-message", |event, arg| {
        assert_eq!(arg, b"ping");
        event.reply("asynchronous-reply", "pong").unwrap();
    })
    .unwrap();
    ipc
}

/// The seed's renderer, in a process main did not start.
fn role_seed(path: &str) {
    let ipc = IpcRenderer::connect(path).unwrap();
    println!(
        "{}",
        String::from_utf8_lossy(&ipc.send_sync("synchronous-message", "ping").unwrap())
    );
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    ipc.on("asynchronous-reply", move |_, arg| {
        let _ = tx.lock().unwrap().send(arg.to_vec());
    })
    .unwrap();
    ipc.send("asynchronous-message", "ping").unwrap();
    let reply = rx.recv_timeout(LIMIT).unwrap();
    println!("{}", String::from_utf8_lossy(&reply));
}

#[test]
fn a_process_main_did_not_spawn_attaches_and_plays_the_seed() {
    let _serial = serial();
    let socket = SocketPath::new("seed");
    let ipc = seed_main();
    let connected = Arc::new(Mutex::new(Vec::new()));
    let seen = connected.clone();
    ipc.on_connected(move |wc| seen.lock().unwrap().push((wc.id(), wc.process_id())));
    ipc.listen(&*socket.0).unwrap();
    let mode = std::fs::metadata(&socket.0).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket file is the owner's only");
    // A second main cannot take a live socket over, nor a file that is not
    // a socket (which stays as it was).
    assert!(IpcMain::new().unwrap().listen(&*socket.0).is_err());
    let file = SocketPath::new("not-a-socket");
    std::fs::write(&file.0, "precious").unwrap();
    assert!(IpcMain::new().unwrap().listen(&*file.0).is_err());
    assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "precious");

    let mut command = role_command(ENTRY, "seed", socket.0.to_str().unwrap());
    command.stdout(std::process::Stdio::piped());
    let mut child = ChildGuard(Some(command.spawn().unwrap()));
    let out = lines(&mut child);
    assert_eq!(
        line_with(&out, LIMIT, "pong"),
        "",
        "a line that is just pong"
    );
    assert_eq!(
        line_with(&out, LIMIT, "pong"),
        "",
        "a line that is just pong"
    );
    child.assert_success(LIMIT);
    let pid = child_pid_of(&connected);
    eventually(LIMIT, "the attached renderer to be gone", || {
        ipc.renderers().is_empty()
    });
    assert!(
        pid.is_some_and(|(_, p)| p != std::process::id()),
        "main saw the child's pid"
    );
    ipc.shutdown();
    assert!(
        !socket.0.exists(),
        "main removes its socket file when it shuts down"
    );
}

fn child_pid_of(connected: &Mutex<Vec<(u32, u32)>>) -> Option<(u32, u32)> {
    connected.lock().unwrap().first().copied()
}

#[test]
fn an_attached_renderer_is_a_renderer_like_a_spawned_one() {
    let _serial = serial();
    let socket = SocketPath::new("peer");
    let ipc = seed_main();
    ipc.handle("add", |_, arg| Ok::<_, String>([arg[0] + arg[1]]))
        .unwrap();
    ipc.listen(&*socket.0).unwrap();
    let renderer = IpcRenderer::connect(&*socket.0).unwrap();
    assert_eq!(
        renderer.send_sync("synchronous-message", "ping").unwrap(),
        b"pong"
    );
    assert_eq!(renderer.invoke("add", [2, 3]).unwrap().wait().unwrap(), [5]);
    let wc = ipc.renderers().pop().expect("a WebContents for it");
    assert_eq!(
        (wc.id(), wc.process_id()),
        (renderer.id(), std::process::id())
    );
    // Several renderers from one process, each its own.
    let second = IpcRenderer::connect(&*socket.0).unwrap();
    assert_ne!(second.id(), renderer.id());
    assert_eq!(ipc.renderers().len(), 2);
    drop(renderer);
    drop(second);
    eventually(LIMIT, "both to be gone", || ipc.renderers().is_empty());
    // An abstract name works alike, and leaves no file.
    let name = format!("ringipc-test-{}", std::process::id());
    ipc.listen(AttachPoint::abstract_name(&name)).unwrap();
    let third = IpcRenderer::connect(AttachPoint::abstract_name(&name)).unwrap();
    assert_eq!(
        third.send_sync("synchronous-message", "ping").unwrap(),
        b"pong"
    );
    // Main shutting down disconnects it like any renderer.
    ipc.shutdown();
    assert!(matches!(
        third.send_sync("synchronous-message", "ping"),
        Err(Error::Disconnected)
    ));
}

#[test]
fn the_admission_policy_decides_who_attaches() {
    let _serial = serial();
    let socket = SocketPath::new("policy");
    let ipc = seed_main();
    ipc.listen(&*socket.0).unwrap();
    let asked = Arc::new(Mutex::new(Vec::<Peer>::new()));
    let seen = asked.clone();
    ipc.admit(move |peer| {
        seen.lock().unwrap().push(*peer);
        false
    });
    match IpcRenderer::connect(&*socket.0) {
        Err(e @ Error::Refused(_)) => assert!(e.to_string().contains("policy"), "{e}"),
        other => panic!("expected Refused, got {other:?}"),
    }
    let peer = asked.lock().unwrap()[0];
    let uid = std::fs::metadata("/proc/self").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (peer.pid, peer.uid, peer.gid),
        (std::process::id(), uid.uid(), uid.gid())
    );
    assert!(ipc.renderers().is_empty());
    // A policy that panics admits nobody, and main lives on.
    ipc.admit(|_| panic!("policy bug"));
    let refused = IpcRenderer::connect(&*socket.0);
    assert!(matches!(refused, Err(Error::Refused(_))), "{refused:?}");
    // A policy on the pid: this process is admitted again.
    let me = std::process::id();
    ipc.admit(move |peer| peer.pid == me);
    let admitted = IpcRenderer::connect(&*socket.0).unwrap();
    assert_eq!(
        admitted.send_sync("synchronous-message", "ping").unwrap(),
        b"pong"
    );
}

/// A raw `SOCK_SEQPACKET` connection to main's socket, for clients that do
/// not follow the protocol.
fn raw_client(path: &std::path::Path) -> OwnedFd {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY (test): plain socket(2), checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    // SAFETY: a fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_un.
    let r = unsafe { libc::connect(fd.as_raw_fd(), (&raw const addr).cast(), len) };
    assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
    fd
}

fn send_raw(fd: &OwnedFd, bytes: &[u8]) {
    // SAFETY: `bytes` is readable for its length.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    assert_eq!(n, bytes.len() as isize);
}

/// What main answers (or `None`: it closed without a word), waiting up to
/// `limit`.
fn answer_of(fd: &OwnedFd, limit: Duration) -> Option<Vec<u8>> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) };
    assert_eq!(
        ready, 1,
        "main neither answered nor closed within {limit:?}"
    );
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

/// The status word of a welcome packet.
fn status(answer: &[u8]) -> u32 {
    u32::from_le_bytes(answer[12..16].try_into().unwrap())
}

#[test]
fn garbage_and_stalled_clients_cost_main_nothing() {
    let _serial = serial();
    let socket = SocketPath::new("hostile");
    let attach_timeout = Duration::from_secs(1);
    let ipc = IpcMain::with_config(Config::default().attach_timeout(attach_timeout)).unwrap();
    ipc.on("ping", |e, _| {
        e.set_return_value("pong");
    })
    .unwrap();
    let connected = Arc::new(AtomicUsize::new(0));
    let count = connected.clone();
    ipc.on_connected(move |_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    ipc.listen(&*socket.0).unwrap();
    // Warm up: the first attach makes what main keeps for good.
    drop(IpcRenderer::connect(&*socket.0).unwrap());
    eventually(LIMIT, "the warm-up renderer to go", || {
        ipc.renderers().is_empty()
    });
    let before = footprint().fds;

    // A hello that carries descriptors: main takes none of them.
    let client = raw_client(&socket.0);
    send_with_fds(&client, &hello());
    let answer = answer_of(&client, LIMIT).expect("an answer");
    assert_eq!(status(&answer), 3, "BadHello: a hello comes alone");
    drop(client);

    // Garbage instead of a hello; a hello too long; a hello with another
    // version; zeros: each refused at once.
    let mut long = b"RINGIPCA".to_vec();
    long.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut other_version = b"RINGIPCA".to_vec();
    other_version.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0]);
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &long,
        &other_version,
        &[0u8; 16],
    ] {
        let client = raw_client(&socket.0);
        send_raw(&client, junk);
        let answer = answer_of(&client, LIMIT).expect("a refusal");
        assert_eq!(status(&answer), 3, "BadHello");
    }
    // One that hangs up at once.
    drop(raw_client(&socket.0));

    // Stalled clients: connected, silent. While they wait, a real renderer
    // attaches and works; then main closes them at the deadline.
    let started = Instant::now();
    let stalled: Vec<OwnedFd> = (0..8).map(|_| raw_client(&socket.0)).collect();
    let renderer = IpcRenderer::connect(&*socket.0).unwrap();
    assert_eq!(renderer.send_sync("ping", []).unwrap(), b"pong");
    for fd in &stalled {
        assert_eq!(answer_of(fd, LIMIT), None, "closed without an answer");
    }
    assert!(started.elapsed() >= attach_timeout);

    // A flood of stalled clients past the limit: the excess is told "busy"
    // at once; after the deadline, attaching works again.
    let flood: Vec<OwnedFd> = (0..80).map(|_| raw_client(&socket.0)).collect();
    let busy = flood
        .iter()
        .filter_map(|fd| answer_of(fd, LIMIT))
        .filter(|a| status(a) == 2)
        .count();
    assert!(busy >= 80 - 64, "{busy} told busy");
    drop(flood);
    eventually(LIMIT, "attaching to work after the flood", || {
        IpcRenderer::connect(&*socket.0).is_ok()
    });
    assert_eq!(renderer.send_sync("ping", []).unwrap(), b"pong");
    drop((renderer, stalled));
    // Only real renderers ever became renderers, and the hostile clients
    // left no descriptor behind in main.
    eventually(LIMIT, "the renderers to go", || ipc.renderers().is_empty());
    assert!(connected.load(Ordering::Relaxed) >= 3);
    eventually(LIMIT, "main's descriptors to return", || {
        let now = footprint().fds;
        now == before || {
            eprintln!("descriptors: {before} before, {now} now");
            false
        }
    });
}

/// A hello as `IpcRenderer::connect` sends it.
fn hello() -> Vec<u8> {
    let mut hello = b"RINGIPCA".to_vec();
    hello.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    hello
}

/// Sends `bytes` with two descriptors of this process as `SCM_RIGHTS`.
fn send_with_fds(fd: &OwnedFd, bytes: &[u8]) {
    let fds = [0 as libc::c_int, 1];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(8) } as _;
    // SAFETY: the control buffer has room for one header and two ints.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: `cmsg` points into `control`, aligned.
    unsafe {
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(8) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), 8);
    }
    // SAFETY: `msg` is valid for the call.
    let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    assert_eq!(
        n,
        bytes.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn a_thousand_attach_detach_cycles_leave_fds_maps_and_threads_flat() {
    let _serial = serial();
    let socket = SocketPath::new("cycles");
    let ipc = IpcMain::new().unwrap();
    ipc.on("ping", |e, _| {
        e.set_return_value("pong");
    })
    .unwrap();
    ipc.listen(&*socket.0).unwrap();
    let cycle = |with_receiver: bool| {
        let renderer = if with_receiver {
            IpcRenderer::connect(&*socket.0)
        } else {
            IpcRenderer::connect_without_receiver(&*socket.0)
        }
        .unwrap();
        assert_eq!(renderer.send_sync("ping", []).unwrap(), b"pong");
        drop(renderer);
        eventually(LIMIT, "main to let the renderer go", || {
            ipc.renderers().is_empty()
        });
    };
    for i in 0..20 {
        cycle(i % 2 == 0);
    }
    let before = footprint();
    let maps_before = maps();
    let start = Instant::now();
    for i in 0..1000 {
        cycle(i % 2 == 0);
    }
    let took = start.elapsed();
    let after = footprint();
    let maps_after = maps();
    println!(
        "1000 cycles in {took:?}: fds {} -> {}, segments mapped {} -> {}, maps {maps_before} -> {maps_after}, \
         threads {} -> {}, rss {} -> {} KiB",
        before.fds,
        after.fds,
        before.segments,
        after.segments,
        before.threads,
        after.threads,
        before.rss_kib,
        after.rss_kib
    );
    assert_eq!(after.fds, before.fds, "descriptors");
    assert_eq!(after.segments, before.segments, "segments");
    assert_eq!(after.threads, before.threads, "threads");
    assert!(
        maps_after <= maps_before + 4,
        "maps {maps_before} -> {maps_after}"
    );
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}
