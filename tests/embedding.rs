//! Main and renderers driven from a host's own event loop, through their
//! descriptors (level- and edge-triggered), and main → renderer `invoke`.

mod common;

use common::*;
use ringipc::{Config, Error, IpcMain, IpcRenderer, WebContents};
use std::future::Future;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
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
        "answers" => role_answers(false),
        "pumped_answers" => role_answers(true),
        "caller" => role_caller(arg.parse().unwrap()),
        "fd_pumper" => role_fd_pumper(&arg),
        "big_answer" => role_big_answer(arg.parse().unwrap()),
        "big_invokes" => role_big_invokes(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

/// Runs a future to completion on this thread (no runtime needed).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

// --------------------------------------------------- main → renderer invoke

fn role_answers(pumped: bool) {
    let ipc = if pumped {
        IpcRenderer::from_env_without_receiver().unwrap()
    } else {
        IpcRenderer::from_env().unwrap()
    };
    ipc.handle("title", |_, arg| -> Result<Vec<u8>, String> {
        Ok([b"Untitled ", arg].concat())
    })
    .unwrap();
    ipc.handle("fails", |_, _| -> Result<Vec<u8>, String> {
        Err("no title here".into())
    })
    .unwrap();
    ipc.handle("panics", |_, _| -> Result<Vec<u8>, String> {
        panic!("handler bug")
    })
    .unwrap();
    ipc.handle_once("once", |_, _| -> Result<&[u8], String> { Ok(b"1") })
        .unwrap();
    ipc.handle("slow", |_, _| -> Result<&[u8], String> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(b"late")
    })
    .unwrap();
    assert!(matches!(
        ipc.handle("title", |_, _| -> Result<&[u8], String> { Ok(b"") }),
        Err(Error::HandlerExists { .. })
    ));
    ipc.send_sync("ready", b"").unwrap();
    if pumped {
        // The host's loop: answers run inside recv.
        loop {
            match ipc.recv() {
                Ok(m) if m.channel == "stop" => return,
                Ok(_) => {}
                Err(Error::Disconnected) => return,
                Err(e) => panic!("{e}"),
            }
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    ipc.on("stop", move |_, _| {
        let _ = tx.lock().unwrap().send(());
    })
    .unwrap();
    let _ = rx.recv_timeout(LIMIT);
}

fn main_with_ready() -> (IpcMain, Arc<AtomicU64>) {
    let ipc = IpcMain::new().unwrap();
    let ready = counted_calls(&ipc, "ready");
    (ipc, ready)
}

fn invoke_every_way(wc: &WebContents) {
    assert_eq!(
        wc.invoke("title", "A").unwrap().wait().unwrap(),
        b"Untitled A"
    );
    assert_eq!(
        block_on(wc.invoke("title", "B").unwrap()).unwrap(),
        b"Untitled B"
    );
    assert_eq!(
        wc.invoke("title", "C")
            .unwrap()
            .wait_timeout(Duration::MAX)
            .unwrap(),
        b"Untitled C"
    );
    match wc.invoke("fails", "").unwrap().wait() {
        Err(Error::HandlerFailed { channel, message }) => {
            assert_eq!(
                (channel.as_str(), message.as_str()),
                ("fails", "no title here")
            )
        }
        other => panic!("{other:?}"),
    }
    match wc.invoke("panics", "").unwrap().wait() {
        Err(Error::HandlerPanicked { channel, message }) => {
            assert_eq!(channel, "panics");
            assert!(message.contains("handler bug"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match wc.invoke("missing", "").unwrap().wait() {
        Err(e @ Error::NoHandler { .. }) => {
            assert_eq!(e.to_string(), "No handler registered for 'missing'")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(wc.invoke("once", "").unwrap().wait().unwrap(), b"1");
    assert!(matches!(
        wc.invoke("once", "").unwrap().wait(),
        Err(Error::NoHandler { .. })
    ));
    // A renderer that does not answer in time: the caller's timeout.
    let slow = wc.invoke("slow", "").unwrap();
    assert!(matches!(
        slow.wait_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    // Several in flight, answered in order.
    let many: Vec<_> = (0..50)
        .map(|i| wc.invoke("title", i.to_string()).unwrap())
        .collect();
    for (i, call) in many.into_iter().enumerate() {
        assert_eq!(call.wait().unwrap(), format!("Untitled {i}").as_bytes());
    }
}

fn main_invokes(role: &str) {
    let _serial = serial();
    let (ipc, ready) = main_with_ready();
    // Invoking from a listener must not block the dispatcher.
    let from_listener = Arc::new(Mutex::new(None));
    let f = from_listener.clone();
    ipc.on("ready", move |event, _| {
        *f.lock().unwrap() = Some(event.sender().invoke("title", "L").unwrap());
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, role, "");
    // The counting listener runs first, the invoking one right after it.
    eventually(LIMIT, "the renderer to be ready and invoked", || {
        ready.load(Ordering::Relaxed) == 1 && from_listener.lock().unwrap().is_some()
    });
    let early = from_listener.lock().unwrap().take().unwrap();
    assert_eq!(early.wait().unwrap(), b"Untitled L");
    invoke_every_way(&wc);
    // A renderer that dies fails what is pending.
    let pending = wc.invoke("slow", "").unwrap();
    child.kill();
    assert!(matches!(pending.wait(), Err(Error::Disconnected)));
    assert!(matches!(wc.invoke("title", ""), Err(Error::Disconnected)));
    eventually(LIMIT, "the memory to come back", || ipc.memory_held() == 0);
}

#[test]
fn main_invokes_a_renderer_with_a_receiver_thread() {
    main_invokes("answers");
}

#[test]
fn main_invokes_a_pumped_renderer() {
    main_invokes("pumped_answers");
}

/// Answers `big` with `len` bytes.
fn role_big_answer(len: usize) {
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.handle("big", move |_, _| -> Result<Vec<u8>, String> {
        Ok(vec![1u8; len])
    })
    .unwrap();
    ipc.send_sync("ready", b"").unwrap();
    std::thread::sleep(LIMIT);
}

#[test]
fn an_answer_past_the_renderer_s_memory_share_fails_the_call_not_hangs_it() {
    // One record, kept by main as the call's answer (`calls::take_answer`
    // charges it); and pieces, which main's reassembly charges.
    for (share, answer) in [(16 << 10, 24 << 10), (64 << 10, 100 << 10)] {
        answer_past_the_share(share, answer);
    }
}

fn answer_past_the_share(share: usize, answer: usize) {
    let _serial = serial();
    let ipc = IpcMain::with_config(Config::default().renderer_memory_limit(share)).unwrap();
    let ready = counted_calls(&ipc, "ready");
    let (wc, _child) = spawn(&ipc, ENTRY, "big_answer", &answer.to_string());
    eventually(LIMIT, "the renderer to be ready", || {
        ready.load(Ordering::Relaxed) == 1
    });
    let call = wc.invoke("big", "").unwrap();
    assert!(matches!(
        call.wait_timeout(Duration::from_secs(10)),
        Err(Error::Disconnected)
    ));
    assert!(wc.disconnect_reason().unwrap().starts_with("memory:"));
    // The dispatcher drops the renderer's slot, and its charge, right after.
    eventually(LIMIT, "the memory to come back", || ipc.memory_held() == 0);
}

// ------------------------------------------- a hosted main on its descriptor

/// `calls` checked round trips and as many messages, with pauses now and
/// then so that main goes idle and must be woken through its descriptor.
fn role_caller(calls: u64) {
    let ipc = IpcRenderer::from_env().unwrap();
    for seq in 0..calls {
        let payload = pattern(seq, 16 + (seq % 100) as usize);
        assert_eq!(ipc.send_sync("echo", &payload).unwrap(), payload);
        ipc.send("note", &payload).unwrap();
        if seq % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// How a host waits on main's descriptor.
#[derive(Clone, Copy, Debug)]
enum Host {
    /// `poll`: level-triggered.
    Poll,
    /// epoll with `EPOLLET`: edge-triggered.
    EdgeTriggered,
}

/// A host loop: waits on `fd` as `host` does, and then takes everything
/// `step` reports until it reports nothing. Returns (wake-ups, wake-ups that
/// found nothing) once `done` holds.
fn host_loop(
    fd: i32,
    host: Host,
    mut step: impl FnMut() -> usize,
    mut done: impl FnMut() -> bool,
) -> (u64, u64) {
    // SAFETY: creating an epoll set has no preconditions.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET) as u32,
        u64: 0,
    };
    // SAFETY: registers a live descriptor with a live event.
    assert_eq!(
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) },
        0
    );
    let (mut wakes, mut empty) = (0, 0);
    // Drain once before the first wait, as the contract asks.
    while step() > 0 {}
    while !done() {
        let ready = match host {
            Host::Poll => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one live pollfd.
                unsafe { libc::poll(&mut p, 1, 50) }
            }
            Host::EdgeTriggered => {
                let mut out = libc::epoll_event { events: 0, u64: 0 };
                // SAFETY: one live event to fill.
                unsafe { libc::epoll_wait(ep, &mut out, 1, 50) }
            }
        };
        if ready <= 0 {
            continue;
        }
        wakes += 1;
        let mut handled = 0;
        loop {
            let n = step();
            handled += n;
            if n == 0 {
                break;
            }
        }
        if handled == 0 {
            empty += 1;
        }
    }
    // SAFETY: closes the descriptor created above.
    unsafe { libc::close(ep) };
    (wakes, empty)
}

fn hosted_main(host: Host) {
    let _serial = serial();
    let ipc = IpcMain::with_config(Config::default().dispatcher_thread(false)).unwrap();
    let notes = echo_and_notes(&ipc);
    const CALLS: u64 = 2000;
    let mut children: Vec<_> = (0..2)
        .map(|_| spawn(&ipc, ENTRY, "caller", &CALLS.to_string()))
        .collect();
    let fd = ipc.as_raw_fd();
    let (wakes, empty) = host_loop(
        fd,
        host,
        || ipc.dispatch(Duration::ZERO).unwrap(),
        || ipc.renderers().is_empty(),
    );
    for (_, c) in &mut children {
        c.assert_success(LIMIT);
    }
    assert_eq!(notes.load(Ordering::Relaxed), 2 * CALLS);
    eprintln!("{host:?}: {wakes} wake-ups, {empty} of them found nothing");
    assert!(empty <= wakes / 4 + 20, "{empty} empty wake-ups of {wakes}");
    // Idle with nobody connected: the descriptor stays quiet.
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    while ipc.dispatch(Duration::ZERO).unwrap() > 0 {}
    // SAFETY: one live pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut p, 1, 200) },
        0,
        "readable while idle"
    );
    // Shutdown makes it readable, and dispatch then says so.
    ipc.shutdown();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::poll(&mut p, 1, 1000) }, 1);
    assert!(matches!(
        ipc.dispatch(Duration::ZERO),
        Err(Error::Disconnected)
    ));
}

#[test]
fn a_hosted_main_on_its_descriptor_level_triggered() {
    hosted_main(Host::Poll);
}

#[test]
fn a_hosted_main_on_its_descriptor_edge_triggered() {
    hosted_main(Host::EdgeTriggered);
}

// ------------------------------------------ a pumped renderer on its descriptor

fn role_fd_pumper(how: &str) {
    let host = match how {
        "poll" => Host::Poll,
        _ => Host::EdgeTriggered,
    };
    let ipc = IpcRenderer::from_env_without_receiver().unwrap();
    let fd = ipc.as_raw_fd();
    let got = std::cell::Cell::new(0u64);
    let gone = std::cell::Cell::new(false);
    let (wakes, empty) = host_loop(
        fd,
        host,
        || match ipc.try_recv() {
            Ok(Some(m)) => {
                assert_eq!(check_pattern(&m.payload).unwrap(), got.get());
                got.set(got.get() + 1);
                1
            }
            Ok(None) => 0,
            Err(Error::Disconnected) => {
                gone.set(true);
                0
            }
            Err(e) => panic!("{e}"),
        },
        || got.get() == 1000 || gone.get(),
    );
    assert_eq!(got.get(), 1000, "every message, in order");
    println!("WAKES {wakes} {empty}");
    // Nothing more comes: the descriptor stays quiet.
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut p, 1, 200) },
        0,
        "readable while idle"
    );
    ipc.send_sync("done", b"").unwrap();
    // Main goes: the descriptor says so, and try_recv reports it.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::poll(&mut p, 1, 5000) }, 1);
    assert!(matches!(ipc.try_recv(), Err(Error::Disconnected)));
}

fn pumped_renderer(how: &str) {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    let done = counted_calls(&ipc, "done");
    let mut cmd = role_command(ENTRY, "fd_pumper", how);
    cmd.stdout(std::process::Stdio::piped());
    let (wc, child) = ipc.spawn(&mut cmd).unwrap();
    let mut child = ChildGuard(Some(child));
    let out = lines(&mut child);
    let start = Instant::now();
    for seq in 0..1000u64 {
        wc.send("m", pattern(seq, 32)).unwrap();
        if seq % 50 == 0 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
    let wakes = line_with(&out, LIMIT, "WAKES ");
    eprintln!(
        "{how}: wake-ups, empty ones: {wakes} ({:?})",
        start.elapsed()
    );
    eventually(LIMIT, "the renderer to be done", || {
        done.load(Ordering::Relaxed) == 1
    });
    drop(ipc);
    child.assert_success(LIMIT);
}

#[test]
fn a_pumped_renderer_on_its_descriptor_level_triggered() {
    pumped_renderer("poll");
}

#[test]
fn a_pumped_renderer_on_its_descriptor_edge_triggered() {
    pumped_renderer("epoll-et");
}

// ------------------------------------------ big answers, hosts on both sides

/// Waits up to `limit` for `fd` to be readable.
fn readable_within(fd: i32, limit: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, limit.as_millis() as i32) > 0 }
}

/// A pumped renderer invoking with 1 MiB both ways, waiting on its
/// descriptor between looks; a wait that times out is a lost wake-up.
fn role_big_invokes() {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let ipc = IpcRenderer::from_env_without_receiver().unwrap();
    let request = vec![7u8; 1 << 20];
    let waker = Waker::from(Arc::new(Noop));
    for i in 0..300 {
        let mut call = ipc.invoke("echo", &request).unwrap();
        loop {
            while ipc.try_recv().unwrap().is_some() {}
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(answer) = std::pin::Pin::new(&mut call).poll(&mut cx) {
                assert_eq!(answer.unwrap(), request);
                break;
            }
            assert!(
                readable_within(ipc.as_raw_fd(), Duration::from_secs(5)),
                "call {i}: the renderer was never woken"
            );
        }
    }
}

/// Answers a host gives between dispatches, with the values.
type Answers = Arc<Mutex<Vec<(ringipc::Responder, Vec<u8>)>>>;

/// Both sides on their descriptors, answers given by a host between
/// dispatches (as Node's main does), each larger than the reply ring: main's
/// outbox drains only as the renderer reads, and neither side may sleep
/// through the other's wake-up.
#[test]
fn hosts_on_both_sides_pass_big_answers_without_a_lost_wake_up() {
    let _serial = serial();
    let ipc = IpcMain::with_config(Config::default().dispatcher_thread(false)).unwrap();
    let answers: Answers = Arc::default();
    let queued = answers.clone();
    ipc.handle("echo", move |event, arg| {
        let responder = event.take_responder().unwrap();
        queued.lock().unwrap().push((responder, arg.to_vec()));
        Ok::<_, String>([])
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "big_invokes", "");
    let start = Instant::now();
    while child.0.as_mut().unwrap().try_wait().unwrap().is_none() {
        assert!(start.elapsed() < LIMIT, "took too long");
        loop {
            let handled = ipc.dispatch_next(Duration::from_micros(50)).unwrap();
            let due: Vec<_> = std::mem::take(&mut *answers.lock().unwrap());
            for (responder, value) in due {
                responder.respond(value).unwrap();
            }
            if handled == 0 && answers.lock().unwrap().is_empty() {
                break;
            }
        }
        if wc.is_connected() {
            assert!(
                readable_within(ipc.as_raw_fd(), Duration::from_secs(5)) || !wc.is_connected(),
                "main was never woken ({} bytes queued for the renderer)",
                wc.queued_bytes()
            );
        }
    }
    child.assert_success(LIMIT);
}
