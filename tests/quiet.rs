//! Many renderers, most of them quiet: main's rounds look at a quiet one
//! rarely (only in the rounds that start with it), yet it is served as soon
//! as it speaks: when main was busy elsewhere at the time, so that it did
//! not kick, and when main shuts down right after it spoke.
//!
//! The renderers attach in-process (no receiver threads), so a test can have
//! many of them cheaply.

mod common;

use common::*;
use ringipc::{AttachPoint, Config, IpcMain, IpcRenderer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Far beyond the few milliseconds these calls take: only a renderer left
/// unserved until main's next timed wake-up (a second or more) runs into it.
const SERVED_WITHIN: Duration = Duration::from_secs(10);

/// `n` renderers attached to `ipc` through a name of this test's own.
fn attach(ipc: &IpcMain, test: &str, n: usize) -> Vec<IpcRenderer> {
    let name = format!("ringipc-quiet-{test}-{}", std::process::id());
    ipc.listen(AttachPoint::abstract_name(&name)).unwrap();
    (0..n)
        .map(|_| IpcRenderer::connect_without_receiver(AttachPoint::abstract_name(&name)).unwrap())
        .collect()
}

/// Rings of the smallest size, so that many renderers cost little memory.
fn small_rings() -> Config {
    Config::default()
        .request_ring_capacity(4096)
        .reply_ring_capacity(4096)
}

#[test]
fn a_quiet_renderer_that_calls_while_main_is_busy_is_served_at_once() {
    let _serial = serial();
    // No spin: main tries to sleep soon after its work, so the rounds it
    // runs awake before it sleeps (some 70) are fewer than there are
    // renderers; a quiet one's turn may not be among them.
    let config = small_rings().dispatcher_spin(Duration::ZERO);
    let ipc = IpcMain::with_config(config).unwrap();
    ipc.on("ping", |event, _| {
        event.set_return_value("pong");
    })
    .unwrap();
    ipc.on("slow", |event, _| {
        std::thread::sleep(Duration::from_millis(5));
        event.set_return_value("ok");
    })
    .unwrap();
    let renderers = attach(&ipc, "busy", 160);
    for quiet in [159, 120, 80, 40, 1] {
        // Everyone but renderer 0 goes quiet.
        for _ in 0..3000 {
            renderers[0].send_sync("ping", "").unwrap();
        }
        std::thread::scope(|s| {
            let busy = &renderers[0];
            s.spawn(move || busy.send_sync("slow", "").unwrap());
            // Main is in the slow listener, awake: the quiet renderer's call
            // comes without a kick, and main must find it on its own.
            std::thread::sleep(Duration::from_millis(1));
            match renderers[quiet].send_sync_timeout("ping", "", SERVED_WITHIN) {
                Ok(answer) => assert_eq!(answer, b"pong"),
                Err(e) => panic!("renderer {quiet}: {e}"),
            }
        });
    }
}

#[test]
fn what_a_quiet_renderer_sent_before_shutdown_is_handled() {
    let _serial = serial();
    // A hosted main that spins through every `dispatch`, so that its
    // rounds make every renderer quiet.
    let config = small_rings()
        .dispatcher_thread(false)
        .dispatcher_spin(Duration::from_secs(1));
    let ipc = IpcMain::with_config(config).unwrap();
    let notes = Arc::new(AtomicU64::new(0));
    let counted = notes.clone();
    ipc.on("note", move |_, _| {
        counted.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    // Attaching needs main to dispatch meanwhile.
    let attached = AtomicBool::new(false);
    let renderers = std::thread::scope(|s| {
        s.spawn(|| {
            while !attached.load(Ordering::Relaxed) {
                ipc.dispatch(Duration::from_millis(1)).unwrap();
            }
        });
        let renderers = attach(&ipc, "shutdown", 40);
        attached.store(true, Ordering::Relaxed);
        renderers
    });
    assert_eq!(ipc.renderers().len(), renderers.len());
    ipc.dispatch(Duration::from_millis(50)).unwrap();
    // One renderer, not the one the next round starts with (whichever that
    // is, at most one in 40), speaks; nobody dispatches before the stop.
    renderers[17].send("note", "last words").unwrap();
    ipc.shutdown();
    assert_eq!(notes.load(Ordering::Relaxed), 1);
}
