//! Electron's canonical `ipc` example, across two real processes.
//!
//! Run it with `cargo run --release --example ping_pong`. It is main by default
//! and re-executes itself as the renderer:
//!
//! ```text
//! main:      on("asynchronous-message") → print arg, sender.send("asynchronous-reply", "pong")
//!            on("synchronous-message")  → print arg, return value = "pong"
//! renderer:  print(send_sync("synchronous-message", "ping"))
//!            on("asynchronous-reply") → print arg
//!            send("asynchronous-message", "ping")
//! ```

use ringipc::{IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::sync::mpsc;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
            eprintln!("ping_pong: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_process() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcMain::new()?;
    ipc.on("asynchronous-message", |event, arg| {
        println!("{}", text(arg)); // prints "ping"
        let _ = event.sender().send("asynchronous-reply", "pong");
    })?;
    ipc.on("synchronous-message", |event, arg| {
        println!("{}", text(arg)); // prints "ping"
        event.set_return_value("pong");
    })?;

    let (_renderer, mut child) =
        ipc.spawn(Command::new(std::env::current_exe()?).arg("--renderer"))?;
    let status = child.wait()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn renderer() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcRenderer::from_env()?;
    println!("{}", text(&ipc.send_sync("synchronous-message", "ping")?)); // prints "pong"

    let (done, replied) = mpsc::channel();
    ipc.on("asynchronous-reply", move |_event, arg| {
        println!("{}", text(arg)); // prints "pong"
        let _ = done.send(());
    })?;
    ipc.send("asynchronous-message", "ping")?;
    replied.recv()?;
    Ok(ExitCode::SUCCESS)
}
