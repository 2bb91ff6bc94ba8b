//! Backpressure on the renderer → main ring: `try_send` refuses with `Full`,
//! `send_timeout` gives up, `send` waits; nothing accepted is ever lost or
//! reordered; and a renderer blocked in `send` on a full ring learns promptly
//! that main died. The other way, `WebContents::wait_sent` paces main's
//! sender on a slow renderer, `WebContents::send_blocking` streams into the
//! ring itself, and main's streamed answer to a caller that stops reading
//! costs main a bounded wait.

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
        "line_loop_under_flood" => role_line_loop_under_flood(),
        "slow_reader" => role_slow_reader(),
        "stream_reader" => role_stream_reader(),
        "stopped_caller" => role_stopped_caller(),
        "bystander" => role_bystander(Duration::from_micros(200)),
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

/// Calls a renderer loops on, each answered after main sends it
/// [`SENT_PER_CALL`] messages of 1 KiB.
const LOOPED_CALLS: u64 = 5_000;
const SENT_PER_CALL: u64 = 4;

/// Loops on small calls (the call line's), each of which makes main send it
/// messages, then waits for every message.
fn role_line_loop_under_flood() {
    let ipc = IpcRenderer::from_env().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    ipc.on("flooded", move |_, arg| {
        assert_eq!(arg.len(), MESSAGE_LEN);
        r.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    for i in 0..LOOPED_CALLS {
        let got = ipc.send_sync("echo", i.to_le_bytes()).unwrap_or_else(|e| {
            let so_far = received.load(Ordering::Relaxed);
            panic!("call {i}: {e}; {so_far} messages so far")
        });
        assert_eq!(got, i.to_le_bytes());
    }
    eventually(LIMIT, "every message", || {
        received.load(Ordering::Relaxed) == LOOPED_CALLS * SENT_PER_CALL
    });
}

/// A thread that loops on the call line reads what main sends meanwhile, as
/// a caller through the rings does (messages sent before an answer reach
/// the renderer before its call returns): main's outbox, 1 MiB here, never
/// overflows while 20 MiB go by, though the receiver thread may not drain
/// while a call is in flight.
#[test]
fn a_caller_looping_on_the_call_line_keeps_reading_what_main_sends() {
    let _serial = serial();
    let config = ringipc::Config::default().outbox_limit(1 << 20);
    let ipc = ringipc::IpcMain::with_config(config).unwrap();
    ipc.on("echo", |e, arg| {
        for i in 0..SENT_PER_CALL {
            e.sender().send("flooded", numbered(i)).unwrap();
        }
        e.set_return_value(arg);
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "line_loop_under_flood", "");
    child.assert_success(LIMIT);
    let reason = wc.disconnect_reason();
    assert!(
        reason.as_deref().is_none_or(|r| r.contains("exited")),
        "{reason:?}"
    );
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
    // Main sends once the listener is up: a message that arrives before
    // there is a listener for it is dropped, as in Electron.
    ipc.send_sync("ready", []).unwrap();
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
    let (ready, ready_rx) = std::sync::mpsc::channel();
    let ready = std::sync::Mutex::new(ready);
    ipc.on("ready", move |e, _| {
        let _ = ready.lock().unwrap().send(());
        e.set_return_value([]);
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "slow_reader", "");
    ready_rx.recv_timeout(LIMIT).expect("the reader ready");
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

/// Big messages streamed with `send_blocking` from one thread, small ones
/// sent from another meanwhile, and a message sent while the stream stalls.
const STREAM_LEN: usize = 3 << 20;
const STREAMED: u64 = 12;
const SMALL: u64 = 2_000;

/// Checks every `big` (whole, intact, in order) and `small` message (in
/// order) and reports the counts when asked.
fn role_stream_reader() {
    let ipc = IpcRenderer::from_env().unwrap();
    let bigs = Arc::new(AtomicU64::new(0));
    let smalls = Arc::new(AtomicU64::new(0));
    let (b, m) = (bigs.clone(), smalls.clone());
    ipc.on("big", move |_, arg| {
        assert_eq!(arg.len(), STREAM_LEN);
        let seq = check_pattern(arg).unwrap();
        assert_eq!(seq, b.fetch_add(1, Ordering::Relaxed), "big ones in order");
    })
    .unwrap();
    ipc.on("small", move |_, arg| {
        let seq = u64::from_le_bytes(arg.try_into().unwrap());
        assert_eq!(
            seq,
            m.fetch_add(1, Ordering::Relaxed),
            "small ones in order"
        );
    })
    .unwrap();
    // How many big ones had come when the message sent during the stall did.
    let bigs_before_it = Arc::new(AtomicU64::new(u64::MAX));
    let (b, before) = (bigs.clone(), bigs_before_it.clone());
    ipc.on("after-stall", move |_, arg| {
        assert_eq!(arg, b"behind");
        before.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
    })
    .unwrap();
    loop {
        let counts =
            [&bigs, &smalls, &bigs_before_it].map(|c| c.load(Ordering::Relaxed).to_le_bytes());
        if ipc.send_sync("counts", counts.concat()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn send_blocking_streams_in_order_beside_other_senders_and_reports_timeout_and_death() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let counts = Arc::new(std::sync::Mutex::new(None));
    let c = counts.clone();
    ipc.on("counts", move |e, arg| {
        let n = |i: usize| u64::from_le_bytes(arg[i..i + 8].try_into().unwrap());
        *c.lock().unwrap() = Some((n(0), n(8), n(16)));
        e.set_return_value([]);
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "stream_reader", "");
    // Its listeners are up once it reports.
    eventually(LIMIT, "the reader ready", || {
        counts.lock().unwrap().is_some()
    });
    let counts = move || counts.lock().unwrap().unwrap_or_default();
    let read = {
        let counts = counts.clone();
        move || (counts().0, counts().1)
    };
    let small_sender = {
        let wc = wc.clone();
        std::thread::spawn(move || {
            for i in 0..SMALL {
                wc.send("small", i.to_le_bytes()).unwrap();
                if i % 64 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    for seq in 0..STREAMED {
        wc.send_blocking("big", pattern(seq, STREAM_LEN), LIMIT)
            .unwrap();
    }
    small_sender.join().unwrap();
    wc.wait_sent(LIMIT).unwrap();
    eventually(LIMIT, "every message read", || read() == (STREAMED, SMALL));

    // A renderer that stops reading: the stream stalls, a message sent
    // meanwhile waits behind it, and the deadline passes with the rest of
    // the message queued, first in line.
    signal_stop(child.pid());
    std::thread::sleep(Duration::from_millis(50));
    let behind = {
        let wc = wc.clone();
        std::thread::spawn(move || {
            // Once the stream waits for room (its rest counts as queued).
            eventually(LIMIT, "the stream stalled", || wc.queued_bytes() > 0);
            wc.send("after-stall", "behind").unwrap();
        })
    };
    let stalled_one = pattern(STREAMED, STREAM_LEN);
    let started = Instant::now();
    let stalled = wc.send_blocking("big", stalled_one, Duration::from_millis(300));
    assert!(matches!(stalled, Err(Error::Timeout)), "{stalled:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    behind.join().unwrap();
    assert!(wc.queued_bytes() > 0, "the rest waits in the outbox");
    // Once it reads again, the message arrives whole, then the one behind it.
    signal_continue(child.pid());
    wc.wait_sent(LIMIT).unwrap();
    eventually(LIMIT, "the stalled message read", || {
        counts().0 == STREAMED + 1
    });
    // The message sent during the stall came after the stalled one, whole.
    eventually(LIMIT, "the message behind it read", || {
        counts().2 != u64::MAX
    });
    assert_eq!(counts().2, STREAMED + 1);

    // And one that is gone.
    child.kill();
    eventually(LIMIT, "the death noticed", || !wc.is_connected());
    let gone = wc.send_blocking("big", pattern(0, STREAM_LEN), LIMIT);
    assert!(matches!(gone, Err(Error::Disconnected)), "{gone:?}");
}

fn signal_continue(pid: u32) {
    // SAFETY: signals a child of ours by pid; no memory involved.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}

const BIG_REPLY: usize = 16 << 20;

/// Asks for a big reply (main stops this process before answering), then
/// checks it, and the numbered messages main sent meanwhile.
fn role_stopped_caller() {
    let ipc = IpcRenderer::from_env().unwrap();
    let ticks = Arc::new(AtomicU64::new(0));
    let t = ticks.clone();
    ipc.on("tick", move |_, arg| {
        let seq = u64::from_le_bytes(arg.try_into().unwrap());
        assert_eq!(seq, t.fetch_add(1, Ordering::Relaxed), "ticks in order");
    })
    .unwrap();
    let reply = ipc.send_sync("big-reply", []).unwrap();
    assert_eq!(reply.len(), BIG_REPLY);
    assert_eq!(check_pattern(&reply), Ok(1));
    eventually(LIMIT, "every tick", || ticks.load(Ordering::Relaxed) == 100);
    ipc.send_sync("done", []).unwrap();
}

#[test]
fn a_big_answer_to_a_caller_that_stops_reading_costs_main_a_bounded_wait() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let answer_took = Arc::new(std::sync::Mutex::new(None));
    let took = answer_took.clone();
    ipc.on("big-reply", move |e, _| {
        let pid = e.sender().process_id();
        let wc = e.sender().clone();
        // The caller stops before it can read: main's streaming must give
        // up and queue the rest rather than wait for it.
        signal_stop(pid);
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        e.set_return_value(pattern(1, BIG_REPLY));
        *took.lock().unwrap() = Some(started.elapsed());
        std::thread::spawn(move || {
            for i in 0..100u64 {
                wc.send("tick", i.to_le_bytes()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
            signal_continue(pid);
        });
    })
    .unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let done_tx = std::sync::Mutex::new(done_tx);
    ipc.on("done", move |e, _| {
        let _ = done_tx.lock().unwrap().send(());
        e.set_return_value([]);
    })
    .unwrap();
    ipc.on("echo", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    // Another renderer keeps calling throughout; its calls check themselves.
    let (bystander, mut bystander_child) = spawn(&ipc, ENTRY, "bystander", "");
    let (_wc, mut child) = spawn(&ipc, ENTRY, "stopped_caller", "");
    done_rx
        .recv_timeout(LIMIT)
        .expect("the caller got everything");
    // Its first call comes after its "stop" listener is up.
    eventually(LIMIT, "the bystander to get going", || {
        bystander.stats().sync_calls > 0
    });
    bystander.send("stop", []).unwrap();
    bystander_child.assert_success(LIMIT);
    let took = answer_took.lock().unwrap().expect("answered");
    // A hang check, not a benchmark: the bound is 16 ms of waiting plus a
    // copy of 16 MiB, far below this.
    assert!(took < Duration::from_secs(5), "answering took {took:?}");
    child.assert_success(LIMIT);
}
