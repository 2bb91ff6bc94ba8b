//! Typed messages: plain-old-data values travel as their bytes, with no
//! encoding and no allocation.
//!
//! Run it with `cargo run --release --example typed`. The renderer sends a
//! `#[repr(C)]` struct; main reads it at whatever alignment the ring left it
//! and answers with another. With `--features serde` it also sends a `serde`
//! struct and a tuple of arguments, compactly encoded, and one as JSON.

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
    #[cfg(feature = "serde")]
    with_serde::main_side(&ipc)?;
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
    #[cfg(feature = "serde")]
    with_serde::renderer_side(&ipc)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "serde")]
mod with_serde {
    use ringipc::value::serde::{Deserialize, Serialize};
    use ringipc::value::{decode, decode_json};
    use ringipc::{IpcMain, IpcRenderer};

    #[derive(Serialize, Deserialize, Debug)]
    #[serde(crate = "ringipc::value::serde")]
    struct Alert {
        sensor: u32,
        message: String,
    }

    pub fn main_side(ipc: &IpcMain) -> ringipc::Result<()> {
        ipc.on("alert", |event, arg| {
            if let Ok(alert) = decode::<Alert>(arg) {
                println!(
                    "main: alert from sensor {}: {}",
                    alert.sensor, alert.message
                );
                let _ = event.set_return_serialized(&true);
            }
        })?;
        ipc.on("between", |event, arg| {
            if let Ok((low, high)) = decode::<(f64, f64)>(arg) {
                let _ = event.set_return_serialized(&((low + high) / 2.0));
            }
        })?;
        ipc.on("alert-json", |_event, arg| {
            if let Ok(alert) = decode_json::<Alert>(arg) {
                println!("main: as JSON: {}", String::from_utf8_lossy(arg));
                println!("main: which reads back as {alert:?}");
            }
        })?;
        Ok(())
    }

    pub fn renderer_side(ipc: &IpcRenderer) -> ringipc::Result<()> {
        let alert = Alert {
            sensor: 2,
            message: "over 30 °C".into(),
        };
        let seen: bool = ipc.send_sync_value("alert", &alert)?;
        println!("renderer: main saw the alert: {seen}");
        let mid: f64 = ipc.send_sync_value("between", &(21.5, 34.0))?;
        println!("renderer: midpoint {mid:.2} °C");
        ipc.send_json("alert-json", &alert)?;
        // The reply is ordered after the message: main has printed it.
        let _: bool = ipc.send_sync_value("alert", &alert)?;
        Ok(())
    }
}
