//! Renderers coming and going: killed at random points while busy, and a
//! thousand connect/disconnect cycles, with main's descriptors, mappings,
//! threads and memory checked for leaks.

mod common;

use common::*;
use ringipc::{IpcMain, IpcRenderer, WaitBackend, WebContents};
use std::collections::HashMap;
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
        "busy" => role_busy(),
        "call_once" => role_call_once(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

/// Sends and calls with payloads of every size until killed (or main goes).
fn role_busy() {
    let ipc = IpcRenderer::from_env().unwrap();
    let mut rng = Rng(std::process::id() as u64 | 1);
    let mut seq = 0u64;
    loop {
        let request = pattern(seq, (rng.next() % 4096) as usize);
        let ok = if rng.next() % 2 == 0 {
            ipc.send("sink", &request).is_ok()
        } else {
            ipc.send_sync("echo", &request).is_ok_and(|r| r == request)
        };
        if !ok {
            return;
        }
        seq += 1;
    }
}

fn role_call_once() {
    let ipc = IpcRenderer::from_env().unwrap();
    assert_eq!(ipc.send_sync("echo", "hi").unwrap(), b"hi");
}

struct Main {
    ipc: IpcMain,
    served: Arc<Mutex<HashMap<u32, u64>>>,
}

impl Main {
    fn new() -> Main {
        let ipc = main_with(WaitBackend::Futex);
        let served: Arc<Mutex<HashMap<u32, u64>>> = Arc::default();
        let s = served.clone();
        ipc.on("echo", move |e, arg| {
            *s.lock().unwrap().entry(e.sender().id()).or_default() += 1;
            e.set_return_value(arg);
        })
        .unwrap();
        ipc.on("sink", |_, arg| {
            check_pattern(arg).unwrap();
        })
        .unwrap();
        Main { ipc, served }
    }

    fn served(&self, wc: &WebContents) -> u64 {
        let served = self.served.lock().unwrap();
        served.get(&wc.id()).copied().unwrap_or(0)
    }
}

#[test]
fn renderers_killed_at_random_points_a_hundred_times() {
    let _serial = serial();
    let main = Main::new();
    let (bystander, mut bystander_child) = spawn(&main.ipc, ENTRY, "busy", "");
    eventually(LIMIT, "the bystander to get going", || {
        main.served(&bystander) > 100
    });
    let before = footprint();
    let mut rng = Rng(0xC0FF_EE11);
    for round in 0..100 {
        let (victim, mut child) = spawn(&main.ipc, ENTRY, "busy", "");
        // Anywhere from before it connected to well into its traffic.
        std::thread::sleep(Duration::from_micros(rng.next() % 20_000));
        child.kill();
        eventually(LIMIT, "main to notice the kill", || !victim.is_connected());
        eventually(LIMIT, "main to drop the victim", || {
            main.ipc.renderers().len() == 1
        });
        let served = main.served(&bystander);
        eventually(LIMIT, "the bystander to be served on", || {
            main.served(&bystander) > served
        });
        assert!(bystander.is_connected(), "round {round}");
    }
    eventually(LIMIT, "main's footprint to return", || {
        footprint()
            == Footprint {
                rss_kib: footprint().rss_kib,
                ..before
            }
    });
    drop(main);
    bystander_child.assert_success(LIMIT);
    assert!(shm_leftovers().is_empty());
}

#[test]
fn a_thousand_connections_leave_nothing_behind() {
    let _serial = serial();
    let main = Main::new();
    let cycle = || {
        let (wc, mut child) = spawn(&main.ipc, ENTRY, "call_once", "");
        child.assert_success(LIMIT);
        eventually(LIMIT, "main to see the renderer go", || !wc.is_connected());
        eventually(LIMIT, "main to drop it", || main.ipc.renderers().is_empty());
    };
    // Warm up: the allocator and the dispatcher's buffers reach their size.
    for _ in 0..100 {
        cycle();
    }
    let before = footprint();
    for _ in 0..900 {
        cycle();
    }
    let after = footprint();
    eprintln!("after 100 connections: {before:?}; after 1000: {after:?}");
    assert_eq!(
        (after.fds, after.segments, after.threads),
        (before.fds, before.segments, before.threads)
    );
    assert!(
        after.rss_kib <= before.rss_kib + 1024,
        "resident memory grew from {} to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    assert!(shm_leftovers().is_empty());
}
