//! Hot `send_sync` calls and nothing else, for a profiler: what
//! BENCHMARKS.md's instruction counts per call come from.
//!
//! ```text
//! cargo run --release --example hot_calls                  # 1 000 000 calls, mean ns per call
//! cargo build --release --example hot_calls
//! valgrind --tool=callgrind --trace-children=yes target/release/examples/hot_calls 20000
//! ```
//!
//! Main registers an `echo` listener and re-executes this program as its
//! renderer, which makes the calls (16-byte request and answer, the call
//! line's case) and prints the mean time of one. Under callgrind both
//! processes run slowly, so each call's waits poll only a few times and the
//! counts per call are close to the software's own; divide a function's
//! inclusive count by the number of calls.

use ringipc::{IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::time::Instant;

const RENDERER: &str = "--renderer";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).collect::<Vec<_>>();
    let as_renderer = args.first().is_some_and(|a| a == RENDERER);
    if as_renderer {
        args.remove(0);
    }
    let calls = match args.first().map(|n| n.parse::<u32>()) {
        None => 1_000_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: hot_calls [number of calls, at least 1]");
            return ExitCode::FAILURE;
        }
    };
    let result = match as_renderer {
        true => renderer(calls),
        false => main_process(calls),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hot_calls: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_process(calls: u32) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcMain::new()?;
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })?;
    let mut renderer = Command::new(std::env::current_exe()?);
    renderer.arg(RENDERER).arg(calls.to_string());
    let (_renderer, mut child) = ipc.spawn(&mut renderer)?;
    Ok(match child.wait()?.success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

fn renderer(calls: u32) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcRenderer::from_env()?;
    let request = [0x5A_u8; 16];
    let mut answer = Vec::with_capacity(64);
    let start = Instant::now();
    for _ in 0..calls {
        ipc.send_sync_into("echo", request, &mut answer, None)?;
    }
    let took = start.elapsed();
    if answer != request {
        return Err("the echo came back different".into());
    }
    println!(
        "{calls} calls, {} ns per call",
        took.as_nanos() / u128::from(calls)
    );
    Ok(ExitCode::SUCCESS)
}
