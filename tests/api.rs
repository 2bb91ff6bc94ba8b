//! Electron's listener API on both sides (`once`, `removeAllListeners`,
//! `listenerCount`), deferred return values, and per-renderer counters.

mod common;

use common::*;
use ringipc::{Error, IpcRenderer, RendererStats, WaitBackend};
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
