//! What the C boundary costs: the same 16-byte `send_sync` round trip, hot
//! and cold, from a C main and renderer (`benches/roundtrip.c`, built
//! against the release static library) and from their Rust twin in this
//! file, in alternating runs. `cargo bench -p ringipc-ffi`.

#[path = "../tests/cc/mod.rs"]
mod cc;

use ringipc::{IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_C_BENCH_ROLE";
/// Runs of each, alternating C and Rust.
const RUNS: usize = 5;
const HOT_BLOCKS: usize = 10;
const BLOCK_CALLS: usize = 20_000;
const COLD_CALLS: usize = 200;
/// Sleep before each cold call: past every spin budget.
const COLD_GAP: Duration = Duration::from_millis(3);

/// One run's percentiles, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Figures {
    hot_p50: u64,
    hot_p99: u64,
    cold_p50: u64,
    cold_p99: u64,
}

impl Figures {
    fn parse(line: &str) -> Figures {
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|w| w.parse().expect("a number"))
            .collect();
        assert_eq!(n.len(), 4, "four figures: {line:?}");
        Figures {
            hot_p50: n[0],
            hot_p99: n[1],
            cold_p50: n[2],
            cold_p99: n[3],
        }
    }
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[(q * (sorted.len() - 1) as f64).round() as usize]
}

/// The renderer's half of the Rust twin: the C program's measurement, in Rust.
fn rust_renderer() {
    let ipc = IpcRenderer::from_env().expect("spawned by main");
    let request = *b"ping-ping-ping!\0";
    let mut reply = Vec::with_capacity(64);
    let mut call = || {
        ipc.send_sync_into("ping", request, &mut reply, None)
            .expect("call");
        assert_eq!(reply.len(), 16);
        reply.clear();
    };
    let mut hot = Vec::with_capacity(HOT_BLOCKS * BLOCK_CALLS);
    for _ in 0..HOT_BLOCKS {
        for _ in 0..BLOCK_CALLS / 10 {
            call();
        }
        for _ in 0..BLOCK_CALLS {
            let start = Instant::now();
            call();
            hot.push(start.elapsed().as_nanos() as u64);
        }
    }
    let mut cold = Vec::with_capacity(COLD_CALLS);
    for _ in 0..COLD_CALLS {
        std::thread::sleep(COLD_GAP);
        let start = Instant::now();
        call();
        cold.push(start.elapsed().as_nanos() as u64);
    }
    hot.sort_unstable();
    cold.sort_unstable();
    println!(
        "{} {} {} {}",
        quantile(&hot, 0.5),
        quantile(&hot, 0.99),
        quantile(&cold, 0.5),
        quantile(&cold, 0.99)
    );
}

/// The Rust twin's main: answers "ping" with 16 bytes, as `roundtrip.c` does.
fn rust_run() -> Figures {
    let ipc = IpcMain::new().expect("main");
    ipc.on("ping", |event, _| {
        event.set_return_value(b"pong-pong-pong!\0");
    })
    .expect("listener");
    let exe = std::env::current_exe().expect("own executable");
    let mut command = Command::new(exe);
    command
        .env(ROLE, "renderer")
        .stdout(std::process::Stdio::piped());
    let (_contents, child) = ipc.spawn(&mut command).expect("spawn");
    let out = child.wait_with_output().expect("renderer");
    assert!(out.status.success(), "the Rust renderer failed");
    Figures::parse(&String::from_utf8_lossy(&out.stdout))
}

fn c_run(program: &std::path::Path) -> Figures {
    let out = Command::new(program)
        .args([
            HOT_BLOCKS.to_string(),
            BLOCK_CALLS.to_string(),
            COLD_CALLS.to_string(),
            COLD_GAP.as_micros().to_string(),
        ])
        .output()
        .expect("run the C bench");
    assert!(
        out.status.success(),
        "the C bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Figures::parse(&String::from_utf8_lossy(&out.stdout))
}

/// The C program's directory, removed on the way out, panics included.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn main() -> ExitCode {
    if std::env::var_os(ROLE).is_some() {
        rust_renderer();
        return ExitCode::SUCCESS;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a single short pass shows that the bench works.
    if !std::env::args().any(|a| a == "--bench") {
        println!("c_roundtrip: run with `cargo bench -p ringipc-ffi`");
        return ExitCode::SUCCESS;
    }
    let out_dir =
        Scratch(std::env::temp_dir().join(format!("ringipc-c-bench-{}", std::process::id())));
    let program = cc::compile("benches/roundtrip.c", &out_dir.0);
    let mut c = Vec::new();
    let mut rust = Vec::new();
    for _ in 0..RUNS {
        c.push(c_run(&program));
        rust.push(rust_run());
    }
    drop(out_dir);

    println!(
        "16-byte send_sync round trip; {RUNS} alternating runs of each, \
         {HOT_BLOCKS}x{BLOCK_CALLS} hot calls and {COLD_CALLS} cold ones per run; medians of the runs"
    );
    println!(
        "{:<24} {:>10} {:>10} {:>12} {:>12}",
        "", "hot p50 ns", "hot p99 ns", "cold p50 ns", "cold p99 ns"
    );
    for (name, runs) in [
        ("C main and renderer", &c),
        ("Rust main and renderer", &rust),
    ] {
        let pick = |f: fn(&Figures) -> u64| median(runs.iter().map(f).collect());
        println!(
            "{:<24} {:>10} {:>10} {:>12} {:>12}",
            name,
            pick(|f| f.hot_p50),
            pick(|f| f.hot_p99),
            pick(|f| f.cold_p50),
            pick(|f| f.cold_p99)
        );
    }
    println!("each run (C | Rust), hot p50 ns: ");
    for (a, b) in c.iter().zip(&rust) {
        println!("  {:>6} | {:>6}", a.hot_p50, b.hot_p50);
    }
    ExitCode::SUCCESS
}
