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
//! line's case) and prints the mean time of one. For instructions per call,
//! divide a function's inclusive count by the number of calls, and leave out
//! the waits' polls (`wait::wait_for`'s loop), whose number depends on how
//! the two processes happened to interleave.

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
    let calls = match args.as_slice() {
        [] => Some(1_000_000),
        [n] => n.parse::<u32>().ok().filter(|&n| n > 0),
        _ => None,
    };
    let Some(calls) = calls else {
        eprintln!("usage: hot_calls [number of calls, at least 1]");
        return ExitCode::FAILURE;
    };
    let result = if as_renderer {
        renderer(calls)
    } else {
        main_process(calls)
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
    Ok(if child.wait()?.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
    // The last answer only: checking each would add to what is measured.
    if answer != request {
        return Err("the echo came back different".into());
    }
    println!(
        "{calls} calls, {} ns per call",
        took.as_nanos() / u128::from(calls)
    );
    Ok(ExitCode::SUCCESS)
}
