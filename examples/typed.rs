//! Typed messages: plain-old-data values travel as their bytes, with no
//! encoding and no allocation.
//!
//! Run it with `cargo run --release --example typed`. The renderer sends a
//! `#[repr(C)]` struct; main reads it at whatever alignment the ring left it
//! and answers with another.

use bytemuck::{Pod, Zeroable};
use ringipc::{IpcMain, IpcRenderer, pod};
use std::process::{Command, ExitCode};

/// A sample, as both processes lay it out.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct Reading {
    sensor: u32,
    _pad: u32,
    celsius: f64,
}

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct Verdict {
    fahrenheit: f64,
    too_hot: u8,
    _pad: [u8; 7],
}

fn main() -> ExitCode {
    let result = if std::env::args().any(|a| a == "--renderer") {
        renderer()
    } else {
        main_process()
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("typed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_process() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcMain::new()?;
    ipc.on("reading", |event, arg| {
        let Some(r) = pod::read_pod::<Reading>(arg) else {
            return; // not a Reading: no value, the caller gets NoReturnValue
        };
        let fahrenheit = r.celsius * 9.0 / 5.0 + 32.0;
        println!("main: sensor {} reads {:.1} °C", r.sensor, r.celsius);
        event.set_return_pod(&Verdict {
            fahrenheit,
            too_hot: (r.celsius > 30.0) as u8,
            _pad: [0; 7],
        });
    })?;
    let (_renderer, mut child) =
        ipc.spawn(Command::new(std::env::current_exe()?).arg("--renderer"))?;
    Ok(if child.wait()?.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn renderer() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcRenderer::from_env()?;
    for (sensor, celsius) in [(1, 21.5), (2, 34.0)] {
        let reading = Reading {
            sensor,
            _pad: 0,
            celsius,
        };
        let verdict: Verdict = ipc.send_sync_pod("reading", &reading)?;
        println!(
            "renderer: sensor {sensor}: {:.1} °F{}",
            verdict.fahrenheit,
            if verdict.too_hot != 0 {
                ", too hot"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
