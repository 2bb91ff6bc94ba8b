//! A renderer that attached through main's socket (`IpcMain::listen`,
//! `IpcRenderer::connect`) against one main spawned, and one spawned with a
//! named segment: 16 B `send_sync` round trips hot and cold, and how long
//! connecting takes. Once connected the three are the same rings, so the
//! figures should agree within the machine's noise.
//!
//! `cargo bench --bench attach`. The bench binary is main; it starts each
//! renderer as a child of its own (re-executing itself with a role), in
//! alternating rounds, and each child times its own calls.

use hdrhistogram::Histogram;
use ringipc::{Config, IpcMain, IpcRenderer, SegmentBackend};
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_BENCH_ROLE";
const SOCKET: &str = "RINGIPC_BENCH_SOCKET";
const ROUNDS: usize = 3;
const HOT_CALLS: usize = 100_000;
const COLD_CALLS: usize = 200;
/// Past every spin budget: both sides are parked when a cold call is made.
const COLD_GAP: Duration = Duration::from_millis(3);

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS; // `cargo bench -- --list`, `cargo test --benches`
    }
    match std::env::var(ROLE).as_deref() {
        Ok("spawned") => measure(IpcRenderer::from_env),
        Ok("attached") => {
            let path = std::env::var(SOCKET).expect("socket path");
            measure(|| IpcRenderer::connect(path.as_str()))
        }
        _ => run_main(),
    }
}

/// One child's figures, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Figures {
    connect: u64,
    hot_p50: u64,
    hot_p99: u64,
    cold_p50: u64,
    cold_p99: u64,
}

fn measure(connect: impl FnOnce() -> ringipc::Result<IpcRenderer>) -> ExitCode {
    let start = Instant::now();
    let ipc = connect().expect("connect");
    let request = [0x5Au8; 16];
    let mut reply = Vec::with_capacity(64);
    ipc.send_sync_into("echo", request, &mut reply, None)
        .unwrap();
    let connect = start.elapsed().as_nanos() as u64;
    let mut hot = Histogram::<u64>::new(3).unwrap();
    for i in 0..HOT_CALLS + 10_000 {
        let t = Instant::now();
        ipc.send_sync_into("echo", request, &mut reply, None)
            .unwrap();
        if i >= 10_000 {
            hot.record(t.elapsed().as_nanos() as u64).unwrap();
        }
    }
    let mut cold = Histogram::<u64>::new(3).unwrap();
    for _ in 0..COLD_CALLS {
        std::thread::sleep(COLD_GAP);
        let t = Instant::now();
        ipc.send_sync_into("echo", request, &mut reply, None)
            .unwrap();
        cold.record(t.elapsed().as_nanos() as u64).unwrap();
    }
    println!(
        "{} {} {} {} {}",
        connect,
        hot.value_at_quantile(0.5),
        hot.value_at_quantile(0.99),
        cold.value_at_quantile(0.5),
        cold.value_at_quantile(0.99)
    );
    ExitCode::SUCCESS
}

fn child(role: &str, socket: &std::path::Path) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("own path"));
    c.env(ROLE, role).env(SOCKET, socket).stdout(Stdio::piped());
    c
}

fn figures_of(child: &mut std::process::Child) -> Figures {
    let out = child.stdout.take().unwrap();
    let line = BufReader::new(out).lines().next().expect("a line").unwrap();
    let n: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    assert!(child.wait().unwrap().success());
    Figures {
        connect: n[0],
        hot_p50: n[1],
        hot_p99: n[2],
        cold_p50: n[3],
        cold_p99: n[4],
    }
}

fn main_with(backend: SegmentBackend) -> IpcMain {
    let ipc = IpcMain::with_config(Config::default().segment_backend(backend)).unwrap();
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .unwrap();
    ipc
}

fn run_main() -> ExitCode {
    let socket = std::env::temp_dir().join(format!("ringipc-bench-{}.sock", std::process::id()));
    let memfd = main_with(SegmentBackend::Memfd);
    memfd.listen(&*socket).unwrap();
    let named = main_with(SegmentBackend::Named);
    let names = ["spawned (memfd)", "attached (memfd)", "spawned (named)"];
    let mut runs: [Vec<Figures>; 3] = Default::default();
    for _ in 0..ROUNDS {
        let (_wc, mut c) = memfd.spawn(&mut child("spawned", &socket)).unwrap();
        runs[0].push(figures_of(&mut c));
        let mut c = child("attached", &socket).spawn().unwrap();
        runs[1].push(figures_of(&mut c));
        let (_wc, mut c) = named.spawn(&mut child("spawned", &socket)).unwrap();
        runs[2].push(figures_of(&mut c));
    }
    memfd.shutdown();
    let median = |runs: &[Figures], f: fn(&Figures) -> u64| {
        let mut v: Vec<u64> = runs.iter().map(f).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let us = |ns: u64| format!("{:.2}", ns as f64 / 1000.0);
    println!(
        "{ROUNDS} alternating rounds; medians of each round's percentiles; \
         hot: {HOT_CALLS} calls, cold: {COLD_CALLS} calls {COLD_GAP:?} apart"
    );
    println!(
        "| renderer | connect (µs) | hot p50 (ns) | hot p99 (ns) | cold p50 (µs) | cold p99 (µs) | hot p50 per round |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, runs) in names.iter().zip(&runs) {
        let rounds: Vec<String> = runs.iter().map(|f| f.hot_p50.to_string()).collect();
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            us(median(runs, |f| f.connect)),
            median(runs, |f| f.hot_p50),
            median(runs, |f| f.hot_p99),
            us(median(runs, |f| f.cold_p50)),
            us(median(runs, |f| f.cold_p99)),
            rounds.join(", ")
        );
    }
    ExitCode::SUCCESS
}
