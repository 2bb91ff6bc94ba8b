//! Latency under load: one renderer's 16-byte `send_sync` round trips,
//! first alone, then while three other renderers stream 1 KiB messages to
//! main as fast as they can; and how main's dispatcher shared itself among
//! the streamers meanwhile (messages handled from each).
//!
//! `cargo bench --bench load`. The bench binary is main; it re-executes
//! itself as the prober, and, when the prober asks, as three streamers.

use hdrhistogram::Histogram;
use ringipc::{IpcMain, IpcRenderer};
use std::collections::BTreeMap;
use std::process::{Child, Command, ExitCode};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_LOAD_ROLE";
const STREAMERS: usize = 3;
const STREAM_LEN: usize = 1 << 10;
/// How long each phase's round trips are timed.
const PHASE: Duration = Duration::from_millis(1500);

fn main() -> ExitCode {
    match std::env::var(ROLE).as_deref() {
        Ok("prober") => prober(),
        Ok("streamer") => streamer(),
        _ => main_process(),
    }
}

/// Kills and reaps the streamers however the bench ends.
struct Streamers(Vec<Child>);

impl Drop for Streamers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main_process() -> ExitCode {
    let ipc = IpcMain::new().expect("start main");
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .expect("listen");
    // Messages handled per streamer (by renderer id).
    let counts = Arc::new(Mutex::new(BTreeMap::<u32, u64>::new()));
    let c = counts.clone();
    ipc.on("stream", move |event, _| {
        *c.lock().unwrap().entry(event.sender().id()).or_default() += 1;
    })
    .expect("listen");
    ipc.on("counts", move |event, _| {
        let snapshot: Vec<u8> = counts
            .lock()
            .unwrap()
            .values()
            .flat_map(|n| n.to_le_bytes())
            .collect();
        event.set_return_value(snapshot);
    })
    .expect("listen");
    let (start, start_asked) = mpsc::channel::<()>();
    let start = Mutex::new(start);
    ipc.on("start-streamers", move |event, _| {
        let _ = start.lock().unwrap().send(());
        event.set_return_value([]);
    })
    .expect("listen");

    let exe = std::env::current_exe().expect("own path");
    let (_prober, mut prober) = ipc
        .spawn(Command::new(&exe).env(ROLE, "prober"))
        .expect("spawn the prober");
    let mut streamers = Streamers(Vec::new());
    if start_asked.recv_timeout(Duration::from_secs(60)).is_ok() {
        for _ in 0..STREAMERS {
            let (_, child) = ipc
                .spawn(Command::new(&exe).env(ROLE, "streamer"))
                .expect("spawn a streamer");
            streamers.0.push(child);
        }
    }
    let status = prober.wait().expect("wait for the prober");
    ipc.shutdown();
    drop(streamers);
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sends 1 KiB messages until main goes away.
fn streamer() -> ExitCode {
    let ipc = IpcRenderer::from_env().expect("connect");
    let payload = [0x5Au8; STREAM_LEN];
    while ipc.send("stream", payload).is_ok() {}
    ExitCode::SUCCESS
}

/// Round trips for `PHASE`; their histogram.
fn timed_round_trips(ipc: &IpcRenderer) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("histogram");
    let mut reply = Vec::with_capacity(64);
    let request = [7u8; 16];
    let end = Instant::now() + PHASE;
    while Instant::now() < end {
        let start = Instant::now();
        ipc.send_sync_into("echo", request, &mut reply, None)
            .expect("echo");
        h.saturating_record(start.elapsed().as_nanos() as u64);
    }
    h
}

fn counts(ipc: &IpcRenderer) -> Vec<u64> {
    let bytes = ipc.send_sync("counts", []).expect("counts");
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn prober() -> ExitCode {
    let ipc = IpcRenderer::from_env().expect("connect");
    let alone = timed_round_trips(&ipc);
    ipc.send_sync("start-streamers", []).expect("start");
    // Until every streamer is heard from, and a little longer.
    while counts(&ipc).len() < STREAMERS {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = counts(&ipc);
    let loaded = timed_round_trips(&ipc);
    let after = counts(&ipc);

    println!("16-byte send_sync round trips of one renderer, timed for {PHASE:?} per phase");
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9}",
        "", "calls", "p50 ns", "p99 ns", "p99.9 ns"
    );
    for (name, h) in [
        ("alone", &alone),
        ("while 3 renderers stream 1 KiB messages", &loaded),
    ] {
        println!(
            "{:<44} {:>9} {:>9} {:>9} {:>9}",
            name,
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999)
        );
    }
    println!(
        "loaded / alone: p50 {:.2}x, p99 {:.2}x",
        loaded.value_at_quantile(0.5) as f64 / alone.value_at_quantile(0.5) as f64,
        loaded.value_at_quantile(0.99) as f64 / alone.value_at_quantile(0.99) as f64
    );
    let handled: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let total: u64 = handled.iter().sum();
    let secs = PHASE.as_secs_f64();
    println!("1 KiB messages main handled from each streamer meanwhile:");
    for (i, n) in handled.iter().enumerate() {
        println!(
            "  streamer {}: {:>9} ({:.2} M/s, {:.1} % of the streamers' share)",
            i + 1,
            n,
            *n as f64 / secs / 1e6,
            100.0 * *n as f64 / total.max(1) as f64
        );
    }
    ExitCode::SUCCESS
}
