//! Electron's listener API on both sides (`once`, `removeAllListeners`,
//! `listenerCount`), deferred return values, and per-renderer counters.

mod common;

use common::*;
use ringipc::{Error, IpcRenderer, RendererStats, WaitBackend};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "api" => role_api(),
        "invoke" => role_invoke(),
        "deferred_invokes" => role_deferred_invokes(),
        "connect_and_leave" => drop(IpcRenderer::from_env().unwrap()),
        "scoped" => role_scoped(&std::env::var(ARG).unwrap()),
        "sends_then_waits" => role_sends_then_waits(),
        "chat_receiver" => role_chat_receiver(),
        "pumped" => role_pumped(),
        "hundred_pings" => role_hundred_pings(),
        "chat_sender" => role_chat_sender(std::env::var(ARG).unwrap().parse().unwrap()),
        "line" => role_line(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn role_api() {
    let ipc = IpcRenderer::from_env().unwrap();

    // Main's `once`: answered the first time, gone the second.
    assert_eq!(ipc.send_sync("once", "x").unwrap(), b"first");
    match ipc.send_sync("once", "x") {
        Err(Error::NoListener { channel }) => assert_eq!(channel, "once"),
        other => panic!("expected NoListener, got {other:?}"),
    }

    // Deferred answers.
    assert_eq!(ipc.send_sync("deferred", "q").unwrap(), b"answer to q");
    match ipc.send_sync("dropped", "x") {
        Err(Error::NoReturnValue { channel }) => assert_eq!(channel, "dropped"),
        other => panic!("expected NoReturnValue, got {other:?}"),
    }
    assert_eq!(
        ipc.send_sync("deferred_then_set", "x").unwrap(),
        b"responder wins"
    );
    let timeout = ipc.send_sync_timeout("never_answered", "x", Duration::from_millis(20));
    assert!(matches!(timeout, Err(Error::Timeout)), "{timeout:?}");

    // The renderer's own `once`, counts and removal.
    let runs = Arc::new(AtomicU64::new(0));
    let r = runs.clone();
    ipc.once("twice", move |_, _| {
        r.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(ipc.listener_count("twice"), 1);
    ipc.send("send_twice", []).unwrap();
    eventually(LIMIT, "both messages handled", || {
        ipc.unhandled_messages() == 1
    });
    assert_eq!(runs.load(Ordering::Relaxed), 1, "a once listener ran twice");
    assert_eq!(ipc.listener_count("twice"), 0);
    for c in ["a", "a", "b"] {
        ipc.on(c, |_, _| {}).unwrap();
    }
    assert_eq!(ipc.remove_all_listeners(Some("a")), 2);
    assert_eq!(ipc.listener_count("b"), 1);
    assert_eq!(ipc.remove_all_listeners(None), 1);
    // Plain-old-data both ways, and `event.reply`.
    let p = Point { x: 1.5, y: -2.0 };
    let scaled: Point = ipc.send_sync_pod("scale", &p).unwrap();
    assert_eq!(scaled, Point { x: 3.0, y: -4.0 });
    let (tx, rx) = std::sync::mpsc::channel();
    ipc.on("replied", move |_, arg| {
        tx.send(ringipc::pod::read_pod::<Point>(arg)).unwrap();
    })
    .unwrap();
    ipc.send_pod("reply_with", &p).unwrap();
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), Some(p));

    ipc.send("done", []).unwrap();
    assert_eq!(ipc.send_sync("stats_checked", []).unwrap(), b"ok");
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}

#[test]
fn listeners_once_remove_all_count_and_deferred_answers() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.once("once", |e, _| {
        e.set_return_value("first");
    })
    .unwrap();
    assert_eq!(ipc.listener_count("once"), 1);
    ipc.on("deferred", |e, arg| {
        let responder = e.take_responder().unwrap();
        assert!(e.take_responder().is_none(), "taken twice");
        let question = String::from_utf8(arg.to_vec()).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            responder.respond(format!("answer to {question}")).unwrap();
        });
    })
    .unwrap();
    ipc.on("dropped", |e, _| drop(e.take_responder().unwrap()))
        .unwrap();
    let set_after_taking = Arc::new(Mutex::new(None));
    let s = set_after_taking.clone();
    ipc.on("deferred_then_set", move |e, _| {
        let responder = e.take_responder().unwrap();
        *s.lock().unwrap() = Some(e.set_return_value("listener"));
        responder.respond("responder wins").unwrap();
    })
    .unwrap();
    // Kept past the caller's timeout, then dropped: its late error is discarded.
    let parked = Arc::new(Mutex::new(Vec::new()));
    let p = parked.clone();
    ipc.on("never_answered", move |e, _| {
        p.lock().unwrap().push(e.take_responder().unwrap());
    })
    .unwrap();
    ipc.on("send_twice", |e, _| {
        e.sender().send("twice", "1").unwrap();
        e.sender().send("twice", "2").unwrap();
    })
    .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    ipc.on("done", move |_, _| {
        d.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    ipc.on("scale", |e, arg| {
        let p: Point = ringipc::pod::read_pod(arg).unwrap();
        e.set_return_pod(&Point {
            x: p.x * 2.0,
            y: p.y * 2.0,
        });
    })
    .unwrap();
    ipc.on("reply_with", |e, arg| {
        e.reply("replied", arg).unwrap();
    })
    .unwrap();
    let stats = Arc::new(Mutex::new(None::<RendererStats>));
    let st = stats.clone();
    ipc.on("stats_checked", move |e, _| {
        *st.lock().unwrap() = Some(e.sender().stats());
        e.set_return_value("ok");
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "api", "");
    child.assert_success(LIMIT);

    assert_eq!(ipc.listener_count("once"), 0);
    assert_eq!(*set_after_taking.lock().unwrap(), Some(false));
    parked.lock().unwrap().clear();
    let s = stats.lock().unwrap().expect("stats were taken");
    // once ×2, deferred, dropped, deferred_then_set, never_answered, scale,
    // stats_checked.
    assert_eq!(s.sync_calls, 8, "{s:?}");
    // send_twice, reply_with, done.
    assert_eq!(s.messages, 3, "{s:?}");
    // The second `once` call (no listener) and the dropped responder.
    assert_eq!(s.error_replies, 2, "{s:?}");
    assert!(s.bytes_received > 0);
    assert_eq!(wc.stats().unhandled_messages, 0);
    assert_eq!(ipc.remove_all_listeners(None), 9);
    assert_eq!(ipc.listener_count("deferred"), 0);
}

/// Runs a future to completion on this thread: the smallest executor, to
/// show `Invocation` needs no runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn numbers(a: u32, b: u32) -> [u8; 8] {
    let mut n = [0u8; 8];
    n[..4].copy_from_slice(&a.to_le_bytes());
    n[4..].copy_from_slice(&b.to_le_bytes());
    n
}

fn role_invoke() {
    let ipc = IpcRenderer::from_env().unwrap();
    let sum = |v: Vec<u8>| u32::from_le_bytes(v.try_into().unwrap());
    assert_eq!(
        sum(ipc.invoke("add", numbers(1, 2)).unwrap().wait().unwrap()),
        3
    );
    match ipc.invoke("add", [1u8]).unwrap().wait() {
        Err(Error::HandlerFailed { channel, message }) => {
            assert_eq!(
                (channel.as_str(), message.as_str()),
                ("add", "need two u32s, got 1 bytes")
            );
        }
        other => panic!("expected HandlerFailed, got {other:?}"),
    }
    match ipc.invoke("nobody", []).unwrap().wait() {
        Err(e @ Error::NoHandler { .. }) => {
            assert_eq!(e.to_string(), "No handler registered for 'nobody'");
        }
        other => panic!("expected NoHandler, got {other:?}"),
    }
    // As futures, on a hand-rolled executor, several in flight at once and
    // answered out of the order they are awaited in.
    let pending: Vec<_> = (0..20)
        .map(|i| ipc.invoke("add", numbers(i, 100)).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate().rev() {
        assert_eq!(sum(block_on(p).unwrap()), i as u32 + 100);
    }
    // Mixed with send_sync on the same ring.
    let a = ipc.invoke("add", numbers(5, 5)).unwrap();
    assert_eq!(ipc.send_sync("echo", "between").unwrap(), b"between");
    assert_eq!(sum(a.wait().unwrap()), 10);
    // A timeout forgets the call; one dropped unanswered too.
    let slow = ipc.invoke("slow", []).unwrap();
    assert!(matches!(
        slow.wait_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    drop(ipc.invoke("slow", []).unwrap());
    // handle_once: answered once.
    assert_eq!(ipc.invoke("once", []).unwrap().wait().unwrap(), b"only");
    assert!(matches!(
        ipc.invoke("once", []).unwrap().wait(),
        Err(Error::NoHandler { .. })
    ));
    // A handler's panic is reported, and handlers still work after it.
    assert!(matches!(
        block_on(ipc.invoke("panics", []).unwrap()),
        Err(Error::HandlerPanicked { .. })
    ));
    assert_eq!(
        sum(ipc.invoke("add", numbers(2, 2)).unwrap().wait().unwrap()),
        4
    );
}

#[test]
fn invoke_and_handle() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.handle("add", |_, arg| {
        let n = |i: usize| u32::from_le_bytes(arg[i..i + 4].try_into().unwrap());
        if arg.len() != 8 {
            return Err(format!("need two u32s, got {} bytes", arg.len()));
        }
        Ok((n(0) + n(4)).to_le_bytes())
    })
    .unwrap();
    match ipc.handle("add", |_, _| Ok::<_, String>([])) {
        Err(e @ Error::HandlerExists { .. }) => {
            assert_eq!(
                e.to_string(),
                "Attempted to register a second handler for 'add'"
            )
        }
        other => panic!("expected HandlerExists, got {other:?}"),
    }
    ipc.handle("slow", |_, _| {
        std::thread::sleep(Duration::from_millis(100));
        Ok::<_, String>(b"late")
    })
    .unwrap();
    ipc.handle_once("once", |_, _| Ok::<_, String>(b"only"))
        .unwrap();
    ipc.handle("panics", |_, _| -> Result<Vec<u8>, String> {
        panic!("handler boom")
    })
    .unwrap();
    ipc.on("echo", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "invoke", "");
    child.assert_success(LIMIT);
    assert!(ipc.remove_handler("add"));
    assert!(!ipc.remove_handler("add"));
    assert!(!ipc.remove_handler("once"), "handle_once removed itself");
}

#[test]
fn lifecycle_callbacks_see_renderers_come_and_go_with_reasons() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let connected = Arc::new(Mutex::new(Vec::new()));
    let gone = Arc::new(Mutex::new(Vec::new()));
    let c = connected.clone();
    ipc.on_connected(move |wc| c.lock().unwrap().push(wc.id()));
    let g = gone.clone();
    ipc.on_disconnected(move |wc, reason| {
        assert!(!wc.is_connected());
        g.lock().unwrap().push((wc.id(), reason.to_owned()));
    });
    let (leaver, mut child) = spawn(&ipc, ENTRY, "connect_and_leave", "");
    assert_eq!(*connected.lock().unwrap(), [leaver.id()]);
    child.assert_success(LIMIT);
    eventually(LIMIT, "the disconnect callback", || {
        gone.lock().unwrap().len() == 1
    });
    let (id, reason) = gone.lock().unwrap()[0].clone();
    assert_eq!(id, leaver.id());
    assert!(reason.contains("exited"), "{reason}");
    // A renderer still connected when main goes is told so, once.
    let (stayer, _child) = spawn(&ipc, ENTRY, "api", "");
    drop(ipc);
    eventually(LIMIT, "the shutdown callback", || {
        gone.lock().unwrap().len() == 2
    });
    let (id, reason) = gone.lock().unwrap()[1].clone();
    assert_eq!((id, reason.as_str()), (stayer.id(), "main shut down"));
}

/// Sends once on `scoped`, then checks who answers `who`: `expect` first,
/// main after its own handler is removed.
fn role_scoped(expect: &str) {
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send("scoped", []).unwrap();
    assert_eq!(
        ipc.invoke("who", []).unwrap().wait().unwrap(),
        expect.as_bytes()
    );
    ipc.send_sync("drop_own_handler", []).unwrap();
    assert_eq!(ipc.invoke("who", []).unwrap().wait().unwrap(), b"main");
    assert_eq!(ipc.send_sync("order", []).unwrap(), b"ok");
}

#[test]
fn a_renderers_own_listeners_and_handlers_come_first() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    ipc.on("scoped", move |e, _| {
        h.lock()
            .unwrap()
            .push(format!("main heard {}", e.sender().id()));
    })
    .unwrap();
    ipc.handle("who", |_, _| Ok::<_, String>("main")).unwrap();
    ipc.on("drop_own_handler", |e, _| {
        e.sender().remove_handler("who");
        e.set_return_value([]);
    })
    .unwrap();
    let h = heard.clone();
    ipc.on("order", move |e, _| {
        let id = e.sender().id();
        let heard = h.lock().unwrap();
        let mine: Vec<_> = heard
            .iter()
            .filter(|l| l.ends_with(&format!(" {id}")))
            .cloned()
            .collect();
        let want: Vec<String> = if id == 1 {
            vec![format!("own heard {id}"), format!("main heard {id}")]
        } else {
            vec![format!("main heard {id}")]
        };
        e.set_return_value(if mine == want { "ok" } else { "wrong order" });
    })
    .unwrap();
    // Renderer 1 gets its own listener and handler before `spawn` returns,
    // so before it can send anything.
    let h = heard.clone();
    ipc.on_connected(move |wc| {
        if wc.id() != 1 {
            return;
        }
        let h = h.clone();
        wc.on("scoped", move |e, _| {
            h.lock()
                .unwrap()
                .push(format!("own heard {}", e.sender().id()));
        })
        .unwrap();
        wc.handle("who", |_, _| Ok::<_, String>("own")).unwrap();
        assert!(matches!(
            wc.handle("who", |_, _| Ok::<_, String>("again")),
            Err(Error::HandlerExists { .. })
        ));
    });
    let (first, mut first_child) = spawn(&ipc, ENTRY, "scoped", "own");
    assert_eq!(first.id(), 1);
    let (_second, mut second_child) = spawn(&ipc, ENTRY, "scoped", "main");
    first_child.assert_success(LIMIT);
    second_child.assert_success(LIMIT);
}

/// Sends messages, then blocks in a call main never answers.
fn role_sends_then_waits() {
    let ipc = IpcRenderer::from_env().unwrap();
    for i in 0..100u32 {
        ipc.send("counted", i.to_le_bytes()).unwrap();
    }
    match ipc.send_sync("never", []) {
        Err(Error::Disconnected) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(!ipc.is_connected());
}

#[test]
fn shutdown_handles_what_was_sent_then_disconnects_everyone() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    let counted = Arc::new(AtomicU64::new(0));
    let c = counted.clone();
    ipc.on("counted", move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let (b, blocked) = std::sync::mpsc::channel();
    ipc.on("never", move |e, _| {
        // Kept, never answered: the caller stays blocked until shutdown.
        let _ = b.send(e.take_responder().unwrap());
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "sends_then_waits", "");
    let responder = blocked.recv_timeout(LIMIT).unwrap();
    ipc.shutdown();
    assert_eq!(counted.load(Ordering::Relaxed), 100, "sent before the call");
    assert_eq!(wc.disconnect_reason().as_deref(), Some("main shut down"));
    assert!(ipc.renderers().is_empty());
    child.assert_success(LIMIT);
    assert!(matches!(
        responder.respond("late"),
        Err(Error::Disconnected)
    ));
    assert!(matches!(
        ipc.spawn(&mut role_command(ENTRY, "api", "")),
        Err(Error::Disconnected)
    ));
}

/// Waits for one forwarded "chat" message and reports who sent it.
fn role_chat_receiver() {
    let ipc = IpcRenderer::from_env().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let leak = tx.clone();
    ipc.on("chat", move |e, arg| {
        tx.send((e.sender_id(), arg.to_vec())).unwrap();
    })
    .unwrap();
    ipc.on("secret", move |e, _| {
        leak.send((e.sender_id(), b"LEAKED".to_vec())).unwrap();
    })
    .unwrap();
    ipc.send_sync("ready", []).unwrap();
    let (from, text) = rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(text, b"hi");
    ipc.send_sync("got", from.unwrap().to_le_bytes()).unwrap();
}

fn role_chat_sender(to: u32) {
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send_to(to, "secret", "no").unwrap();
    ipc.send_to(99, "chat", "nobody").unwrap();
    ipc.send_to(to, "chat", "hi").unwrap();
    // Ordered after the three above: main has dealt with them.
    ipc.send_sync("sent", []).unwrap();
}

#[test]
fn renderers_message_each_other_where_main_allows() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.allow_forwarding(|_from, _to, channel| channel == "chat");
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let ready_tx = Mutex::new(ready_tx);
    ipc.on("ready", move |e, _| {
        ready_tx.lock().unwrap().send(()).unwrap();
        e.set_return_value([]);
    })
    .unwrap();
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    ipc.on("got", move |e, arg| {
        *g.lock().unwrap() = Some(u32::from_le_bytes(arg.try_into().unwrap()));
        e.set_return_value([]);
    })
    .unwrap();
    let refused = Arc::new(Mutex::new(None));
    let r = refused.clone();
    ipc.on("sent", move |e, _| {
        *r.lock().unwrap() = Some(e.sender().stats().forwards_refused);
        e.set_return_value([]);
    })
    .unwrap();
    let (receiver, mut receiver_child) = spawn(&ipc, ENTRY, "chat_receiver", "");
    ready.recv_timeout(LIMIT).unwrap();
    let (sender, mut sender_child) = spawn(&ipc, ENTRY, "chat_sender", &receiver.id().to_string());
    sender_child.assert_success(LIMIT);
    receiver_child.assert_success(LIMIT);
    assert_eq!(
        *got.lock().unwrap(),
        Some(sender.id()),
        "sender_id names the sender"
    );
    // "secret" (not allowed) and renderer 99 (no such renderer).
    assert_eq!(*refused.lock().unwrap(), Some(2));
}

/// A host with its own loop: no receiver thread, messages taken by hand.
fn role_pumped() {
    let ipc = IpcRenderer::from_env_without_receiver().unwrap();
    assert!(ipc.try_recv().unwrap().is_none());
    assert!(
        ipc.recv_timeout(Duration::from_millis(10))
            .unwrap()
            .is_none()
    );
    // Main sends three messages while answering this call; they wait for us.
    assert_eq!(ipc.send_sync("send_three", []).unwrap(), b"sent");
    for i in 0..3u8 {
        let m = ipc.recv().unwrap();
        assert_eq!(
            (m.channel.as_str(), m.payload, m.sender_id),
            ("pumped", vec![i], None)
        );
    }
    assert!(ipc.try_recv().unwrap().is_none());
    // One that arrives while the host waits.
    ipc.send("send_later", []).unwrap();
    let m = ipc.recv_timeout(LIMIT).unwrap().expect("a message");
    assert_eq!(m.payload, b"later");
}

#[test]
fn a_host_can_pump_messages_itself() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("send_three", |e, _| {
        for i in 0..3u8 {
            e.reply("pumped", [i]).unwrap();
        }
        e.set_return_value("sent");
    })
    .unwrap();
    ipc.on("send_later", |e, _| {
        std::thread::sleep(Duration::from_millis(20));
        e.reply("pumped", "later").unwrap();
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "pumped", "");
    child.assert_success(LIMIT);
}

fn role_hundred_pings() {
    let ipc = IpcRenderer::from_env().unwrap();
    for _ in 0..100 {
        assert_eq!(ipc.send_sync("ping", []).unwrap(), b"pong");
    }
    assert!(matches!(
        ipc.invoke("nobody", []).unwrap().wait(),
        Err(Error::NoHandler { .. })
    ));
}

#[test]
fn a_host_can_drive_mains_dispatch_from_its_own_thread() {
    let _serial = serial();
    let threaded = main_with(WaitBackend::Futex);
    assert!(matches!(
        threaded.dispatch(Duration::ZERO),
        Err(Error::WrongMode(_))
    ));
    drop(threaded);

    let ipc =
        ringipc::IpcMain::with_config(ringipc::Config::default().dispatcher_thread(false)).unwrap();
    let on_host = std::thread::current().id();
    ipc.on("ping", move |e, _| {
        assert_eq!(
            std::thread::current().id(),
            on_host,
            "ran on the host's thread"
        );
        e.set_return_value("pong");
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "hundred_pings", "");
    let mut handled = 0;
    while child.0.as_mut().unwrap().try_wait().unwrap().is_none() {
        handled += ipc.dispatch(Duration::from_millis(5)).unwrap();
    }
    assert!(child.wait_for_exit(LIMIT).success());
    assert_eq!(handled, 101);
    ipc.shutdown();
    assert!(matches!(
        ipc.dispatch(Duration::ZERO),
        Err(Error::Disconnected)
    ));
}

fn role_deferred_invokes() {
    let ipc = IpcRenderer::from_env().unwrap();
    // Answered later, out of order, from other threads.
    let calls: Vec<_> = (0..8u8)
        .map(|i| ipc.invoke("later", [i]).unwrap())
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.wait().unwrap(), [i as u8 * 2]);
    }
    match ipc.invoke("refuse", []).unwrap().wait() {
        Err(Error::HandlerFailed { channel, message }) => {
            assert_eq!(
                (channel.as_str(), message.as_str()),
                ("refuse", "not today")
            );
        }
        other => panic!("expected HandlerFailed, got {other:?}"),
    }
    assert!(matches!(
        ipc.invoke("dropped", []).unwrap().wait(),
        Err(Error::NoReturnValue { .. })
    ));
    // A deferred sync answer that fails.
    assert!(matches!(
        ipc.send_sync("sync-refuse", []),
        Err(Error::HandlerFailed { .. })
    ));
    println!("deferred ok");
}

/// A handler that takes the responder answers (or fails) later from
/// another thread, and what it returns itself is ignored; a responder
/// dropped unanswered fails the call instead of leaving it pending.
#[test]
fn handlers_answer_invokes_later_through_a_responder() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.handle("later", |event, arg| {
        let responder = event.take_responder().expect("an invoke");
        assert!(event.take_responder().is_none(), "the first answer wins");
        let doubled = [arg[0] * 2];
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(u64::from(8 - doubled[0] / 2)));
            responder.respond(doubled).unwrap();
        });
        Ok::<_, String>(b"ignored")
    })
    .unwrap();
    ipc.handle("refuse", |event, _| {
        let responder = event.take_responder().unwrap();
        std::thread::spawn(move || responder.fail("not today"));
        Ok::<_, String>([])
    })
    .unwrap();
    ipc.handle("dropped", |event, _| {
        drop(event.take_responder());
        Ok::<_, String>([])
    })
    .unwrap();
    ipc.on("sync-refuse", |event, _| {
        event.take_responder().unwrap().fail("no");
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "deferred_invokes", "");
    child.assert_success(LIMIT);
}

/// A host that starts the renderer itself, with the descriptors under other
/// numbers than main's (as Node's `child_process.spawn` puts them at 3 and 4).
#[test]
fn a_prepared_renderer_started_by_the_host_connects() {
    use std::os::unix::process::CommandExt;
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("ping", |e, _| {
        e.set_return_value("pong");
    })
    .unwrap();
    let prepared = ipc.prepare_renderer().unwrap();
    let (segment, lifeline) = (
        prepared.segment_fd().expect("a memfd"),
        prepared.lifeline_fd(),
    );
    let (segment, lifeline) = (segment.as_raw_fd(), lifeline.as_raw_fd());
    let (name, value) = prepared.environment(7, 8).unwrap();
    assert!(prepared.environment(7, 7).is_err());
    let mut command = role_command(ENTRY, "hundred_pings", "");
    command.env(name, value);
    let hook = move || {
        // dup2 and fcntl are async-signal-safe; the numbers are open in the
        // parent. dup2 onto the same number keeps close-on-exec, hence fcntl.
        for (from, to) in [(segment, 7), (lifeline, 8)] {
            if unsafe { libc::dup2(from, to) } < 0
                || unsafe { libc::fcntl(to, libc::F_SETFD, 0) } < 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only calls dup2 and fcntl.
    unsafe { command.pre_exec(hook) };
    let id = prepared.id();
    let child = command.spawn().unwrap();
    let mut child = ChildGuard(Some(child));
    let wc = prepared.started(child.pid());
    assert_eq!((wc.id(), wc.process_id()), (id, child.pid()));
    child.assert_success(LIMIT);
    assert!(prepared_rejects_stdio(&ipc));
    eventually(LIMIT, "the child's renderer to be gone", || {
        ipc.renderers().is_empty()
    });
    // Dropping a prepared renderer abandons it without a trace.
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    drop(ipc.prepare_renderer().unwrap());
    assert_eq!(std::fs::read_dir("/proc/self/fd").unwrap().count(), fds);
}

/// Descriptors 0 to 2 are the child's stdio, never the segment's.
fn prepared_rejects_stdio(ipc: &ringipc::IpcMain) -> bool {
    let prepared = ipc.prepare_renderer().unwrap();
    prepared.environment(2, 4).is_err() && prepared.environment(3, 0).is_err()
}

/// Small calls ride the call line (one cache line shared by request and
/// answer); these are the ways off it.
fn role_line() {
    let ipc = IpcRenderer::from_env().unwrap();
    let echo = |ipc: &IpcRenderer, tag: u64| {
        let request = pattern(tag, 16);
        assert_eq!(
            ipc.send_sync("echo", &request).unwrap(),
            request,
            "call {tag}"
        );
    };
    // A call that gives up leaves the line busy until main answers it:
    // meanwhile calls take the rings, and no answer reaches the wrong call.
    let late = ipc.send_sync_timeout("slow", "s", Duration::from_millis(50));
    assert!(matches!(late, Err(Error::Timeout)), "{late:?}");
    (0..200).for_each(|i| echo(&ipc, i));
    std::thread::sleep(Duration::from_millis(400));
    (200..400).for_each(|i| echo(&ipc, i));
    // Answers around the line's room and far beyond it, to small requests.
    for len in [0usize, 1, 37, 38, 39, 46, 47, 1000, 300_000] {
        let answer = ipc.send_sync("big", (len as u32).to_le_bytes()).unwrap();
        assert_eq!(answer, pattern(len as u64, len), "answer of {len} bytes");
    }
    // A failure too long for the line comes through the ring.
    match ipc.send_sync("boom", "x") {
        Err(Error::HandlerPanicked { message, .. }) => assert_eq!(message, "b".repeat(300)),
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    // Several threads at once: one has the line, the others the rings.
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let ipc = &ipc;
            s.spawn(move || (0..2_000).for_each(|i| echo(ipc, 1_000_000 * (t + 1) + i)));
        }
    });
}

#[test]
fn small_calls_on_the_call_line_fall_back_to_the_rings_and_recover() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("echo", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    ipc.on("slow", |e, _| {
        std::thread::sleep(Duration::from_millis(300));
        e.set_return_value("late");
    })
    .unwrap();
    ipc.on("big", |e, arg| {
        let len = u32::from_le_bytes(arg.try_into().unwrap()) as usize;
        e.set_return_value(pattern(len as u64, len));
    })
    .unwrap();
    ipc.on("boom", |_, _| panic!("{}", "b".repeat(300)))
        .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "line", "");
    child.assert_success(LIMIT);
    assert_eq!(wc.stats().sync_calls, 1 + 400 + 9 + 1 + 8_000);
}
