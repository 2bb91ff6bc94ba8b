//! A soak run: minutes of connection churn and mixed traffic, with main's
//! footprint (descriptors, segments, threads, RSS) printed at the start and
//! the end, and required to come back.
//!
//! Ignored by default; run it with
//! `cargo test --release --test soak -- --ignored --nocapture`
//! (`RINGIPC_SOAK_SECS` sets the length, default 120).

mod common;

use common::*;
use ringipc::{Config, Error, IpcMain, IpcRenderer, WebContents};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "worker" => role_worker(std::env::var(ARG).unwrap().parse().unwrap()),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

/// Mixed traffic for `rounds` rounds: messages, sync calls, invokes of
/// sizes from bytes to a megabyte, while main sends to it; then it leaves.
fn role_worker(rounds: u64) {
    let ipc = IpcRenderer::from_env().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    ipc.on("push", move |_, arg| {
        check_pattern(arg).unwrap();
        r.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let mut rng = Rng(std::process::id() as u64 | 1);
    for seq in 0..rounds {
        let len = match rng.next() % 100 {
            0 => 1 << 20,
            1..=9 => 64 << 10,
            _ => (rng.next() % 512) as usize,
        };
        let payload = pattern(seq, len);
        let result = match seq % 3 {
            0 => ipc
                .send_sync("echo", &payload)
                .map(|r| assert_eq!(r, payload)),
            1 => ipc
                .invoke("echo", &payload)
                .and_then(|i| i.wait())
                .map(|r| assert_eq!(r, payload)),
            _ => ipc.send("note", &payload),
        };
        match result {
            Ok(()) => {}
            // Main killed the connection: that is part of the churn.
            Err(Error::Disconnected) => return,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
#[ignore = "minutes long: run with --ignored"]
fn soak_connection_churn_and_mixed_traffic() {
    let _serial = serial();
    let seconds: u64 = std::env::var("RINGIPC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let ipc = IpcMain::with_config(Config::default().memory_limit(256 << 20)).unwrap();
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .unwrap();
    ipc.handle("echo", |_, arg| -> Result<Vec<u8>, String> {
        Ok(arg.to_vec())
    })
    .unwrap();
    ipc.on("note", |_, arg| {
        check_pattern(arg).unwrap();
    })
    .unwrap();
    // Warm up once, so that the start figures include what stays.
    let (_, mut first) = spawn(&ipc, ENTRY, "worker", "100");
    first.assert_success(LIMIT);
    std::thread::sleep(Duration::from_millis(100));
    let start = footprint();
    println!("start: {start:?}");

    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut live: Vec<(WebContents, ChildGuard)> = Vec::new();
    let (mut spawned, mut killed, mut pushed) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        live.retain_mut(|(wc, child)| {
            let done = match child.0.as_mut() {
                Some(c) => c.try_wait().unwrap().is_some(),
                None => true,
            };
            if done {
                child.0 = None;
            }
            !done || wc.is_connected()
        });
        while live.len() < 6 {
            let rounds = 200 + rng.next() % 3000;
            live.push(spawn(&ipc, ENTRY, "worker", &rounds.to_string()));
            spawned += 1;
        }
        for (wc, _) in &live {
            if wc
                .send("push", pattern(pushed, (rng.next() % 2048) as usize))
                .is_ok()
            {
                pushed += 1;
            }
        }
        if rng.next() % 50 == 0 {
            let i = (rng.next() % live.len() as u64) as usize;
            live[i].1.kill();
            killed += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for (wc, mut child) in live {
        if child.0.is_some() {
            child.wait_for_exit(LIMIT);
        }
        eventually(LIMIT, "main to drop a finished renderer", || {
            !wc.is_connected()
        });
    }
    std::thread::sleep(Duration::from_millis(100));
    let end_figures = footprint();
    println!("end:   {end_figures:?}");
    println!(
        "{spawned} renderers spawned, {killed} killed, {pushed} messages pushed, \
         {} bytes held at the end",
        ipc.memory_held()
    );
    assert_eq!(
        (end_figures.fds, end_figures.segments, end_figures.threads),
        (start.fds, start.segments, start.threads)
    );
    eventually(LIMIT, "everything given back", || ipc.memory_held() == 0);
    assert!(end_figures.rss_kib < start.rss_kib + 16 * 1024, "RSS grew");
}
