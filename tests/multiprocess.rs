//! Main and renderers as real processes: semantics, ordering, integrity, crashes.
//!
//! Each test is main; its renderers are this binary re-executed through the
//! `renderer_entry` test with a role in the environment.

mod common;

use common::*;
use ringipc::{Config, Error, IpcMain, IpcRenderer, WaitBackend};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

/// Not a test of its own: the door through which child processes run a role.
#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        "ping_pong" => role_ping_pong(),
        "errors" => role_errors(),
        "mixed" => role_mixed(arg.parse().unwrap()),
        "inbox_order" => role_inbox_order(),
        "threads" => role_threads(),
        "unhandled" => role_unhandled(),
        "loop_until_disconnected" => role_loop_until_disconnected(),
        "main_for_kill" => role_main_for_kill(),
        "blocked_in_send_sync" => role_blocked_in_send_sync(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

// ---------------------------------------------------------------- ping/pong

fn role_ping_pong() {
    let ipc = IpcRenderer::from_env().unwrap();
    assert_eq!(
        ipc.send_sync("synchronous-message", "ping").unwrap(),
        b"pong"
    );
    let (tx, rx) = mpsc::channel();
    ipc.on("asynchronous-reply", move |event, arg| {
        assert_eq!(event.channel(), "asynchronous-reply");
        tx.send(arg.to_vec()).unwrap();
    })
    .unwrap();
    ipc.send("asynchronous-message", "ping").unwrap();
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), b"pong");
}

fn ping_pong_with(backend: WaitBackend) {
    let _serial = serial();
    let before = shm_leftovers();
    let ipc = main_with(backend);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    ipc.on("asynchronous-message", move |event, arg| {
        assert!(!event.is_sync());
        s.lock().unwrap().push(("async", arg.to_vec()));
        event.sender().send("asynchronous-reply", "pong").unwrap();
    })
    .unwrap();
    let s = seen.clone();
    ipc.on("synchronous-message", move |event, arg| {
        assert!(event.is_sync());
        s.lock().unwrap().push(("sync", arg.to_vec()));
        event.set_return_value("pong");
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "ping_pong", "");
    assert_eq!(wc.process_id(), child.pid());
    child.assert_success(LIMIT);
    assert_eq!(
        *seen.lock().unwrap(),
        [("sync", b"ping".to_vec()), ("async", b"ping".to_vec())]
    );
    eventually(LIMIT, "main to notice the renderer exit", || {
        !wc.is_connected()
    });
    assert!(ipc.renderers().is_empty());
    assert_eq!(shm_leftovers(), before, "segments left in /dev/shm");
}

#[test]
fn ping_pong_futex() {
    ping_pong_with(WaitBackend::Futex);
}

#[test]
fn ping_pong_raw_sync_event() {
    ping_pong_with(WaitBackend::RawSyncEvent);
}

// ---------------------------------------------------------------- errors

fn role_errors() {
    let ipc = IpcRenderer::from_env().unwrap();
    match ipc.send_sync("nobody-listens", "x") {
        Err(Error::NoListener { channel }) => assert_eq!(channel, "nobody-listens"),
        other => panic!("expected NoListener, got {other:?}"),
    }
    match ipc.send_sync("no-value", "x") {
        Err(Error::NoReturnValue { channel }) => assert_eq!(channel, "no-value"),
        other => panic!("expected NoReturnValue, got {other:?}"),
    }
    match ipc.send_sync("panics", "x") {
        Err(e @ Error::HandlerPanicked { .. }) => {
            let Error::HandlerPanicked { channel, message } = &e else {
                unreachable!()
            };
            assert_eq!(channel, "panics");
            assert_eq!(message, "boom");
            assert!(e.to_string().contains("boom"), "{e}");
        }
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    // The dispatcher survived the panic, and the first value set wins.
    assert_eq!(ipc.send_sync("two-values", "x").unwrap(), b"first");
    // A value set before a panic is still delivered, as in Electron.
    assert_eq!(ipc.send_sync("value-then-panic", "x").unwrap(), b"kept");
    // A timed-out call's late reply must not be taken for the next call's.
    let start = Instant::now();
    match ipc.send_sync_timeout("slow", "x", Duration::from_millis(20)) {
        Err(Error::Timeout) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(
        ipc.send_sync("echo", "after-timeout").unwrap(),
        b"after-timeout"
    );
    // Validation happens before anything is written.
    assert!(matches!(
        ipc.send("", "x"),
        Err(Error::InvalidChannel { len: 0 })
    ));
    let long = "c".repeat(256);
    assert!(matches!(
        ipc.send_sync(&long, "x"),
        Err(Error::InvalidChannel { len: 256 })
    ));
    // Above main's limit (set to 2 MiB here), before anything is written.
    let big = vec![0u8; (2 << 20) + 1];
    match ipc.send("echo", &big) {
        Err(Error::MessageTooLarge { len, max }) => assert_eq!((len, max), (big.len(), 2 << 20)),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    match ipc.send_sync("huge-reply", "x") {
        Err(Error::MessageTooLarge { len, max }) => assert_eq!((len, max), (3 << 20, 2 << 20)),
        other => panic!("expected MessageTooLarge for the reply, got {other:?}"),
    }
    // At the limit, both ways, through a 256 KiB ring: in fragments.
    let at_limit = pattern(7, 2 << 20);
    assert_eq!(ipc.send_sync("echo", &at_limit).unwrap(), at_limit);
    // Zero-length payloads both ways, and the allocation-free form.
    let mut out = vec![1, 2, 3];
    ipc.send_sync_into("echo", [], &mut out, None).unwrap();
    assert!(out.is_empty());
    assert_eq!(ipc.send_sync("echo", "still fine").unwrap(), b"still fine");
}

#[test]
fn errors_are_prompt_and_typed_futex() {
    errors_are_prompt_and_typed(WaitBackend::Futex);
}

#[test]
fn errors_are_prompt_and_typed_raw_sync_event() {
    errors_are_prompt_and_typed(WaitBackend::RawSyncEvent);
}

fn errors_are_prompt_and_typed(backend: WaitBackend) {
    let _serial = serial();
    let ipc = IpcMain::with_config(
        Config::default()
            .wait_backend(backend)
            .max_message_len(2 << 20),
    )
    .unwrap();
    ipc.on("no-value", |_, _| {}).unwrap();
    ipc.on("panics", |_, _| panic!("boom")).unwrap();
    ipc.on("two-values", |e, _| {
        e.set_return_value("first");
    })
    .unwrap();
    ipc.on("two-values", |e, _| {
        assert!(!e.set_return_value("second"));
    })
    .unwrap();
    ipc.on("value-then-panic", |e, _| {
        e.set_return_value("kept");
        panic!("after the value");
    })
    .unwrap();
    ipc.on("slow", |e, _| {
        std::thread::sleep(Duration::from_millis(200));
        e.set_return_value("late");
    })
    .unwrap();
    ipc.on("echo", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    ipc.on("huge-reply", |e, _| {
        e.set_return_value(vec![7u8; 3 << 20]);
    })
    .unwrap();
    let removed = ipc
        .on("removed", |_, _| panic!("removed listener ran"))
        .unwrap();
    assert!(ipc.remove_listener(removed));
    assert!(!ipc.remove_listener(removed));
    let (_wc, mut child) = spawn(&ipc, ENTRY, "errors", "");
    child.assert_success(LIMIT);
}

/// Segments main has mapped right now.
fn memfd_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains("memfd:ringipc"))
        .count()
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn send_sync<T: Send + Sync>() {}
    fn clone<T: Clone>() {}
    send_sync::<IpcMain>();
    send_sync::<ringipc::WebContents>();
    send_sync::<IpcRenderer>();
    send_sync::<Error>();
    clone::<IpcMain>();
    clone::<ringipc::WebContents>();
}

#[test]
fn unhandled_async_messages_are_counted_not_silent() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let (wc, mut child) = spawn(&ipc, ENTRY, "unhandled", "");
    child.assert_success(LIMIT);
    assert_eq!(wc.unhandled_messages(), 3);
}

fn role_unhandled() {
    let ipc = IpcRenderer::from_env().unwrap();
    for _ in 0..3 {
        ipc.send("nobody-listens", "x").unwrap();
    }
    // A sync call behind them proves main has handled the three.
    assert!(matches!(
        ipc.send_sync("nobody-either", "x"),
        Err(Error::NoListener { .. })
    ));
}

#[test]
fn invalid_channel_in_main() {
    let ipc = main_with(WaitBackend::Futex);
    assert!(matches!(
        ipc.on("", |_, _| {}),
        Err(Error::InvalidChannel { len: 0 })
    ));
    assert!(matches!(
        ipc.on(&"x".repeat(300), |_, _| {}),
        Err(Error::InvalidChannel { len: 300 })
    ));
}

#[test]
fn from_env_without_invitation_is_a_clear_error() {
    // The test process itself was not spawned by IpcMain.
    if std::env::var(ROLE).is_ok() {
        return;
    }
    match IpcRenderer::from_env() {
        Err(e @ Error::NotARenderer(_)) => {
            assert!(e.to_string().contains("RINGIPC_RENDERER"), "{e}")
        }
        other => panic!("expected NotARenderer, got {:?}", other.map(|_| ())),
    }
}

// ---------------------------------------------------------------- ordering and integrity

/// Sends `n` messages with sequence numbers, randomly mixing `send` and
/// `send_sync`, then checks that main saw all of them in order.
fn role_mixed(n: u64) {
    let ipc = IpcRenderer::from_env().unwrap();
    let echoes = Arc::new(Mutex::new(Vec::new()));
    let e = echoes.clone();
    ipc.on("echo", move |_, arg| {
        e.lock().unwrap().push(check_pattern(arg).unwrap())
    })
    .unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ipc.id() as u64);
    let mut expected_echoes = Vec::new();
    let mut reply = Vec::new();
    for seq in 0..n {
        let payload = pattern(seq, 8 + (rng.next() % 300) as usize);
        if rng.next() % 2 == 0 {
            ipc.send("seq", &payload).unwrap();
        } else {
            ipc.send_sync_into("seq", &payload, &mut reply, None)
                .unwrap();
            assert_eq!(
                check_pattern(&reply).unwrap(),
                seq ^ 0xFFFF,
                "reply to {seq}"
            );
            if seq % 7 == 0 {
                expected_echoes.push(seq);
            }
        }
    }
    let seen = ipc.send_sync("done", "").unwrap();
    assert_eq!(
        u64::from_le_bytes(seen.try_into().unwrap()),
        n,
        "main saw a different count"
    );
    let start = Instant::now();
    while echoes.lock().unwrap().len() < expected_echoes.len() && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        *echoes.lock().unwrap(),
        expected_echoes,
        "main→renderer messages lost or reordered"
    );
}

/// Main's side of `role_mixed`: per-renderer expected sequence numbers.
fn mixed_main(ipc: &IpcMain) -> Arc<Mutex<Vec<String>>> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let next: Arc<Mutex<HashMap<u32, u64>>> = Arc::default();
    let (errs, nx) = (errors.clone(), next.clone());
    ipc.on("seq", move |event, arg| {
        let id = event.sender().id();
        let mut next = nx.lock().unwrap();
        let expected = next.entry(id).or_insert(0);
        match check_pattern(arg) {
            Ok(seq) if seq == *expected => *expected += 1,
            Ok(seq) => errs
                .lock()
                .unwrap()
                .push(format!("renderer {id}: got {seq}, expected {expected}")),
            Err(e) => errs.lock().unwrap().push(format!("renderer {id}: {e}")),
        }
        if event.is_sync() {
            let seq = *expected - 1;
            if seq % 7 == 0 {
                // Sent before the reply: must reach the renderer in this order.
                event
                    .sender()
                    .send("echo", pattern(seq, 8 + (seq % 50) as usize))
                    .unwrap();
            }
            event.set_return_value(pattern(seq ^ 0xFFFF, 8 + (seq % 100) as usize));
        }
    })
    .unwrap();
    ipc.on("done", move |event, _| {
        let n = next
            .lock()
            .unwrap()
            .get(&event.sender().id())
            .copied()
            .unwrap_or(0);
        event.set_return_value(n.to_le_bytes());
    })
    .unwrap();
    errors
}

fn mixed_with(backend: WaitBackend, renderers: usize, n: u64) {
    let _serial = serial();
    let ipc = main_with(backend);
    let errors = mixed_main(&ipc);
    let mut children: Vec<_> = (0..renderers)
        .map(|_| spawn(&ipc, ENTRY, "mixed", &n.to_string()))
        .collect();
    let ids: Vec<u32> = children.iter().map(|(wc, _)| wc.id()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        renderers,
        "renderer ids must be distinct: {ids:?}"
    );
    for (_, child) in &mut children {
        child.assert_success(LIMIT);
    }
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
}

#[test]
fn hundred_thousand_mixed_in_order_futex() {
    mixed_with(WaitBackend::Futex, 1, 100_000);
}

#[test]
fn hundred_thousand_mixed_in_order_raw_sync_event() {
    mixed_with(WaitBackend::RawSyncEvent, 1, 100_000);
}

#[test]
fn several_renderers_at_once_futex() {
    mixed_with(WaitBackend::Futex, 4, 10_000);
}

#[test]
fn several_renderers_at_once_raw_sync_event() {
    mixed_with(WaitBackend::RawSyncEvent, 4, 10_000);
}

fn role_inbox_order() {
    let ipc = IpcRenderer::from_env().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    ipc.on("burst", move |_, arg| {
        g.lock()
            .unwrap()
            .push(u32::from_le_bytes(arg.try_into().unwrap()))
    })
    .unwrap();
    // Main sends 1000 messages (far more than fit in the ring's spare room at
    // times) while this thread is blocked in send_sync; none may be lost.
    assert_eq!(ipc.send_sync("burst-then-reply", "").unwrap(), b"done");
    let start = Instant::now();
    while got.lock().unwrap().len() < 1000 && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(*got.lock().unwrap(), (0..1000).collect::<Vec<u32>>());
}

#[test]
fn messages_arriving_during_send_sync_are_kept_in_order() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("burst-then-reply", |event, _| {
        for i in 0..1000u32 {
            event.sender().send("burst", i.to_le_bytes()).unwrap();
        }
        event.set_return_value("done");
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "inbox_order", "");
    child.assert_success(LIMIT);
}

fn role_threads() {
    let ipc = Arc::new(IpcRenderer::from_env().unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let ipc = ipc.clone();
            std::thread::spawn(move || {
                for i in 0..5_000u64 {
                    let seq = t << 32 | i;
                    let reply = ipc
                        .send_sync("echo", pattern(seq, 8 + (i % 64) as usize))
                        .unwrap();
                    assert_eq!(
                        check_pattern(&reply).unwrap(),
                        seq,
                        "thread {t} got another's reply"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // With no call in flight any more, the receiver thread must take the ring
    // back: messages main sends now are delivered without another call.
    let (tx, rx) = mpsc::channel();
    ipc.on("after", move |_, arg| tx.send(arg.to_vec()).unwrap())
        .unwrap();
    ipc.send("send-after", "").unwrap();
    for i in 0..10u8 {
        assert_eq!(
            rx.recv_timeout(LIMIT).expect("message after the calls"),
            [i]
        );
    }
}

#[test]
fn concurrent_send_sync_from_many_threads_futex() {
    concurrent_send_sync_from_many_threads(WaitBackend::Futex);
}

#[test]
fn concurrent_send_sync_from_many_threads_raw_sync_event() {
    concurrent_send_sync_from_many_threads(WaitBackend::RawSyncEvent);
}

fn concurrent_send_sync_from_many_threads(backend: WaitBackend) {
    let _serial = serial();
    let ipc = main_with(backend);
    ipc.on("echo", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    listen_send_after(&ipc);
    let (_wc, mut child) = spawn(&ipc, ENTRY, "threads", "");
    child.assert_success(LIMIT);
}

/// Main's side of the end of `role_threads`: ten messages, sent while no
/// call is in flight.
fn listen_send_after(ipc: &IpcMain) {
    ipc.on("send-after", |e, _| {
        for i in 0..10u8 {
            e.sender().send("after", [i]).unwrap();
        }
    })
    .unwrap();
}

// ---------------------------------------------------------------- crashes

fn role_loop_until_disconnected() {
    let ipc = IpcRenderer::from_env().unwrap();
    let mut i = 0u64;
    loop {
        let payload = pattern(i, 16);
        match ipc.send_sync("count", &payload) {
            Ok(r) => assert_eq!(r, payload),
            Err(Error::Disconnected) => return,
            Err(e) => panic!("unexpected error {e}"),
        }
        i += 1;
        if i % 64 == 0 {
            // Leave the cores to the others now and then, like a real app.
            std::thread::yield_now();
        }
    }
}

#[test]
fn renderer_killed_mid_stream_others_keep_working_futex() {
    renderer_killed_mid_stream_others_keep_working(WaitBackend::Futex);
}

#[test]
fn renderer_killed_mid_stream_others_keep_working_raw_sync_event() {
    renderer_killed_mid_stream_others_keep_working(WaitBackend::RawSyncEvent);
}

fn renderer_killed_mid_stream_others_keep_working(backend: WaitBackend) {
    let _serial = serial();
    let ipc = main_with(backend);
    let counts: Arc<Mutex<HashMap<u32, u64>>> = Arc::default();
    let c = counts.clone();
    ipc.on("count", move |e, arg| {
        *c.lock().unwrap().entry(e.sender().id()).or_default() += 1;
        e.set_return_value(arg);
    })
    .unwrap();
    let mut rs: Vec<_> = (0..3)
        .map(|_| spawn(&ipc, ENTRY, "loop_until_disconnected", ""))
        .collect();
    let count = |id: u32| counts.lock().unwrap().get(&id).copied().unwrap_or(0);
    for (wc, _) in &rs {
        eventually(LIMIT, "every renderer to get going", || {
            count(wc.id()) >= 1000
        });
    }
    let victim = rs[0].0.clone();
    let mapped = memfd_mappings();
    assert!(
        mapped >= 3,
        "expected the three renderers' segments mapped, found {mapped}"
    );
    rs[0].1.kill(); // SIGKILL, through std

    eventually(Duration::from_secs(5), "main to notice the SIGKILL", || {
        !victim.is_connected()
    });
    assert!(
        victim.disconnect_reason().unwrap().contains("exited"),
        "{:?}",
        victim.disconnect_reason()
    );
    assert!(matches!(
        victim.send("count", "x"),
        Err(Error::Disconnected)
    ));
    assert_eq!(ipc.renderers().len(), 2);
    // Main let go of the dead renderer's segment (victim's handle stays valid).
    eventually(Duration::from_secs(5), "the segment to be unmapped", || {
        memfd_mappings() == mapped - 1
    });
    for (wc, _) in &rs[1..] {
        let before = count(wc.id());
        eventually(LIMIT, "survivors to keep being served", || {
            count(wc.id()) >= before + 1000
        });
        assert!(wc.is_connected());
    }
    // Dropping main disconnects the survivors, which then exit cleanly.
    drop(ipc);
    for (_, child) in &mut rs[1..] {
        child.assert_success(LIMIT);
    }
}

/// A main process whose only listener never answers; the test kills it.
fn role_main_for_kill() {
    let backend = if std::env::var(ARG).unwrap() == "raw" {
        WaitBackend::RawSyncEvent
    } else {
        WaitBackend::Futex
    };
    let ipc = main_with(backend);
    ipc.on("block", |e, _| {
        println!("BLOCKED {}", e.sender().process_id());
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    })
    .unwrap();
    let mut cmd = role_command(ENTRY, "blocked_in_send_sync", "");
    cmd.stdout(Stdio::inherit());
    let (_wc, _child) = ipc.spawn(&mut cmd).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn role_blocked_in_send_sync() {
    let ipc = IpcRenderer::from_env().unwrap();
    let r = ipc.send_sync("block", "x");
    println!(
        "RESULT {}",
        match r {
            Err(Error::Disconnected) => "disconnected".to_string(),
            other => format!("{other:?}"),
        }
    );
}

fn main_killed_with(backend: &str) {
    let _serial = serial();
    let mut cmd = role_command(ENTRY, "main_for_kill", backend);
    cmd.stdout(Stdio::piped());
    let mut main = ChildGuard(Some(cmd.spawn().unwrap()));
    let stdout = main.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = |rx: &mpsc::Receiver<String>, prefix: &str| loop {
        let l = rx.recv_timeout(LIMIT).expect("child output");
        if let Some(rest) = l.strip_prefix(prefix) {
            return rest.to_owned();
        }
    };
    line(&rx, "BLOCKED ");
    // Let the renderer exhaust its spin and park in the futex.
    std::thread::sleep(Duration::from_millis(100));
    main.kill();
    let killed_at = Instant::now();
    let result = line(&rx, "RESULT ");
    let took = killed_at.elapsed();
    // The renderer, an orphan now, exits by itself: noticing that main died is
    // exactly what this test checks. (Killing it by pid could hit a reused pid.)
    eprintln!("renderer blocked in send_sync saw main's SIGKILL after {took:?}");
    assert_eq!(result, "disconnected");
    assert!(
        took < Duration::from_secs(1),
        "renderer learned of main's death after {took:?}"
    );
}

#[test]
fn main_killed_while_renderer_blocks_in_send_sync_futex() {
    main_killed_with("futex");
}

#[test]
fn main_killed_while_renderer_blocks_in_send_sync_raw_sync_event() {
    main_killed_with("raw");
}

#[test]
fn listener_count_of_calls_matches_under_concurrency() {
    // Every sync call from four threads runs the listener exactly once.
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    ipc.on("echo", move |e, arg| {
        c.fetch_add(1, Ordering::Relaxed);
        e.set_return_value(arg);
    })
    .unwrap();
    listen_send_after(&ipc);
    let (_wc, mut child) = spawn(&ipc, ENTRY, "threads", "");
    child.assert_success(LIMIT);
    assert_eq!(calls.load(Ordering::Relaxed), 4 * 5_000);
}
