//! Backpressure on the renderer → main ring: `try_send` refuses with `Full`,
//! `send_timeout` gives up, `send` waits; nothing accepted is ever lost or
//! reordered; and a renderer blocked in `send` on a full ring learns promptly
//! that main died. The other way, `WebContents::wait_sent` paces main's
//! sender on a slow renderer.

mod common;

use common::*;
use ringipc::{Error, IpcRenderer, WaitBackend};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);
/// Payload of each numbered message: big enough to fill the ring quickly.
const MESSAGE_LEN: usize = 1024;
/// Messages sent with blocking `send` once main drains again.
const AFTER_RELEASE: u64 = 5_000;

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "fill_then_flow" => role_fill_then_flow(),
        "blocked_in_send" => role_blocked_in_send(),
        "main_for_kill" => role_main_for_kill(),
        "calls_behind_floods" => role_calls_behind_floods(),
        "slow_reader" => role_slow_reader(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn numbered(i: u64) -> Vec<u8> {
    let mut m = vec![0xC3; MESSAGE_LEN];
    m[..8].copy_from_slice(&i.to_le_bytes());
    m
}

/// Fills the ring while main is held, checks that `try_send` and
/// `send_timeout` refuse without sending, then sends more with `send` once
/// main drains again, and asks main how many it got.
fn role_fill_then_flow() {
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send("hold", []).unwrap();
    let mut next = 0u64;
    let (needed, free) = loop {
        match ipc.try_send("m", numbered(next)) {
            Ok(()) => next += 1,
            Err(Error::Full { needed, free }) => break (needed, free),
            Err(e) => panic!("try_send: {e}"),
        }
    };
    assert!(next > 0, "nothing fit in an empty ring");
    assert!(needed > free, "Full with {free} free for {needed} needed");
    assert!(
        needed >= MESSAGE_LEN,
        "needed {needed} is less than the payload"
    );
    let start = Instant::now();
    match ipc.send_timeout("m", numbered(next), Duration::from_millis(50)) {
        Err(Error::Timeout) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(50));
    // Still full: the refused messages took no room.
    assert!(matches!(
        ipc.try_send("m", numbered(next)),
        Err(Error::Full { .. })
    ));
    println!("FULL {next}");
    for _ in 0..AFTER_RELEASE {
        ipc.send("m", numbered(next)).unwrap();
        next += 1;
    }
    let got = ipc.send_sync("total", []).unwrap();
    assert_eq!(u64::from_le_bytes(got.try_into().unwrap()), next);
}

fn full_ring_with(backend: WaitBackend) {
    let _serial = serial();
    let ipc = main_with(backend);
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    ipc.on("hold", move |_, _| {
        while !g.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
    })
    .unwrap();
    // Every numbered message must arrive once, in order, intact.
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    ipc.on("m", move |_, arg| {
        let want = r.load(Ordering::Relaxed);
        assert_eq!(arg.len(), MESSAGE_LEN);
        assert_eq!(u64::from_le_bytes(arg[..8].try_into().unwrap()), want);
        assert!(arg[8..].iter().all(|&b| b == 0xC3));
        r.store(want + 1, Ordering::Relaxed);
    })
    .unwrap();
    let r = received.clone();
    ipc.on("total", move |e, _| {
        e.set_return_value(r.load(Ordering::Relaxed).to_le_bytes());
    })
    .unwrap();
    let mut cmd = role_command(ENTRY, "fill_then_flow", "");
    cmd.stdout(Stdio::piped());
    let (wc, child) = ipc.spawn(&mut cmd).unwrap();
    let mut child = ChildGuard(Some(child));
    let rx = lines(&mut child);
    let accepted: u64 = line_with(&rx, LIMIT, "FULL ").parse().unwrap();
    assert_eq!(received.load(Ordering::Relaxed), 0, "main was held");
    gate.store(true, Ordering::Release);
    child.assert_success(LIMIT);
    // A panic in a listener above would have been reported as HandlerPanicked
    // only for sync calls; for messages, the count is the check.
    assert_eq!(
        received.load(Ordering::Relaxed),
        accepted + AFTER_RELEASE,
        "messages lost or duplicated"
    );
    assert!(wc.disconnect_reason().is_none_or(|r| r.contains("exited")));
}

#[test]
fn full_ring_refuses_then_flows_without_loss_futex() {
    full_ring_with(WaitBackend::Futex);
}

#[test]
fn full_ring_refuses_then_flows_without_loss_raw_sync_event() {
    full_ring_with(WaitBackend::RawSyncEvent);
}

/// A main whose dispatcher blocks on the first message; the test kills it.
fn role_main_for_kill() {
    let backend = if std::env::var(ARG).unwrap() == "raw" {
        WaitBackend::RawSyncEvent
    } else {
        WaitBackend::Futex
    };
    let ipc = main_with(backend);
    ipc.on("block", |_, _| {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    })
    .unwrap();
    let mut cmd = role_command(ENTRY, "blocked_in_send", "");
    cmd.stdout(Stdio::inherit());
    let (_wc, _child) = ipc.spawn(&mut cmd).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Fills the ring to a main that does not read, and reports how the `send`
/// that finds it full ends.
fn role_blocked_in_send() {
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send("block", []).unwrap();
    while ipc.try_send("m", numbered(0)).is_ok() {}
    println!("BLOCKING");
    let r = ipc.send("m", numbered(0));
    println!(
        "RESULT {}",
        match r {
            Err(Error::Disconnected) => "disconnected".to_string(),
            other => format!("{other:?}"),
        }
    );
}

fn main_killed_while_renderer_blocks_in_send(backend: &str) {
    let _serial = serial();
    let mut cmd = role_command(ENTRY, "main_for_kill", backend);
    cmd.stdout(Stdio::piped());
    let mut main = ChildGuard(Some(cmd.spawn().unwrap()));
    let rx = lines(&mut main);
    line_with(&rx, LIMIT, "BLOCKING");
    // Let the sender exhaust its spin and park.
    std::thread::sleep(Duration::from_millis(100));
    main.kill();
    let killed_at = Instant::now();
    let result = line_with(&rx, LIMIT, "RESULT ");
    let took = killed_at.elapsed();
    eprintln!("renderer blocked in send on a full ring saw main's SIGKILL after {took:?}");
    assert_eq!(result, "disconnected");
    assert!(took < Duration::from_secs(1), "noticed after {took:?}");
}

#[test]
fn main_killed_while_renderer_blocks_in_send_futex() {
    main_killed_while_renderer_blocks_in_send("futex");
}

#[test]
fn main_killed_while_renderer_blocks_in_send_raw_sync_event() {
    main_killed_while_renderer_blocks_in_send("raw");
}

/// Asks main for floods of messages of assorted sizes and, right behind each,
/// makes a call whose reply is empty: the reply often waits in main's outbox
/// behind the flood, and must still arrive, promptly. (Before messages woke a
/// caller asleep in `send_sync`, each such call took a 50 ms park slice or
/// more, and the 2 000 rounds over a minute.)
fn role_calls_behind_floods() {
    let ipc = IpcRenderer::from_env().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    ipc.on("flooded", move |_, _| {
        r.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let mut rng = Rng(7);
    let mut sent = 0u64;
    for round in 0..2_000u64 {
        let count = 1 + rng.next() % 400;
        let len = rng.next() % 4096;
        let mut order = [0u8; 16];
        order[..8].copy_from_slice(&count.to_le_bytes());
        order[8..].copy_from_slice(&len.to_le_bytes());
        ipc.send("flood", order).unwrap();
        sent += count;
        let reply = ipc
            .send_sync_timeout("empty", [], LIMIT)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(reply.is_empty());
    }
    eventually(LIMIT, "every flooded message", || {
        received.load(Ordering::Relaxed) == sent
    });
}

#[test]
fn empty_replies_queued_behind_messages_arrive() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("flood", |e, arg| {
        let count = u64::from_le_bytes(arg[..8].try_into().unwrap());
        let len = u64::from_le_bytes(arg[8..].try_into().unwrap()) as usize;
        let message = vec![0x17u8; len];
        for _ in 0..count {
            e.sender().send("flooded", &message).unwrap();
        }
    })
    .unwrap();
    ipc.on("empty", |e, _| {
        e.set_return_value([]);
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "calls_behind_floods", "");
    child.assert_success(LIMIT);
}

/// Reads `big` messages slowly, checking their numbers, until it has
/// `WAIT_SENT_MESSAGES`; then tells main and stays until main is done.
fn role_slow_reader() {
    let ipc = IpcRenderer::from_env().unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let n = next.clone();
    ipc.on("big", move |_, arg| {
        let i = u64::from_le_bytes(arg[..8].try_into().unwrap());
        assert_eq!(i, n.fetch_add(1, Ordering::Relaxed), "in order");
        assert_eq!(arg.len(), WAIT_SENT_LEN);
        std::thread::sleep(Duration::from_millis(2));
    })
    .unwrap();
    eventually(LIMIT, "every big message", || {
        next.load(Ordering::Relaxed) == WAIT_SENT_MESSAGES
    });
    ipc.send_sync("all-read", []).unwrap();
    std::thread::sleep(LIMIT);
}

/// Larger than the 256 KiB ring, so each message waits in main's outbox.
const WAIT_SENT_LEN: usize = 1 << 20;
const WAIT_SENT_MESSAGES: u64 = 40;

#[test]
fn wait_sent_paces_main_on_a_slow_reader_and_reports_timeout_and_death() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let (all_read, all_read_rx) = std::sync::mpsc::channel();
    let all_read = std::sync::Mutex::new(all_read);
    ipc.on("all-read", move |e, _| {
        let _ = all_read.lock().unwrap().send(());
        e.set_return_value([]);
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "slow_reader", "");
    let mut most_queued = 0;
    for i in 0..WAIT_SENT_MESSAGES {
        let mut m = vec![0x5A; WAIT_SENT_LEN];
        m[..8].copy_from_slice(&i.to_le_bytes());
        wc.send("big", &m).unwrap();
        most_queued = most_queued.max(wc.queued_bytes());
        wc.wait_sent(LIMIT).unwrap();
        assert_eq!(wc.queued_bytes(), 0, "wait_sent returned with a backlog");
    }
    // Paced: never more than about one message waited in main.
    assert!(
        most_queued <= WAIT_SENT_LEN + (64 << 10),
        "{most_queued} bytes queued"
    );
    all_read_rx
        .recv_timeout(LIMIT)
        .expect("the renderer read them all");

    // A renderer that stops reading: a deadline, not a hang.
    signal_stop(child.pid());
    for i in WAIT_SENT_MESSAGES..WAIT_SENT_MESSAGES + 2 {
        let mut m = vec![0x5A; WAIT_SENT_LEN];
        m[..8].copy_from_slice(&i.to_le_bytes());
        wc.send("big", &m).unwrap();
    }
    let started = Instant::now();
    let stalled = wc.wait_sent(Duration::from_millis(200));
    assert!(matches!(stalled, Err(Error::Timeout)), "{stalled:?}");
    assert!(started.elapsed() < LIMIT);

    // And one that is gone (SIGKILL ends a stopped process too).
    child.kill();
    eventually(LIMIT, "the death noticed", || !wc.is_connected());
    let gone = wc.wait_sent(LIMIT);
    assert!(matches!(gone, Err(Error::Disconnected)), "{gone:?}");
}

fn signal_stop(pid: u32) {
    // SAFETY: signals a child of ours by pid; no memory involved.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
}
