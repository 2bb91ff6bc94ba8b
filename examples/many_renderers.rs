//! One main, several renderers: sender identity and fan-out.
//!
//! Run it with `cargo run --release --example many_renderers`. Main starts
//! four renderers; each asks main who it is (`event.sender()` tells main which
//! renderer called), then main sends every renderer a broadcast, and each
//! renderer acknowledges it with a message of its own, which main attributes
//! to its sender.

use ringipc::{IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

const RENDERERS: usize = 4;

fn main() -> ExitCode {
    let result = if std::env::args().any(|a| a == "--renderer") {
        renderer()
    } else {
        main_process()
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("many_renderers: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_process() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcMain::new()?;
    // Who is calling: the event names its sender.
    ipc.on("who-am-i", |event, _arg| {
        let me = event.sender();
        event.set_return_value(format!("renderer {} (pid {})", me.id(), me.process_id()));
    })?;
    let acks = Arc::new(AtomicUsize::new(0));
    let (all_acked, acked) = mpsc::channel();
    let a = acks.clone();
    ipc.on("ack", move |event, arg| {
        println!(
            "main: renderer {} got the broadcast: {}",
            event.sender().id(),
            String::from_utf8_lossy(arg)
        );
        if a.fetch_add(1, Ordering::Relaxed) + 1 == RENDERERS {
            let _ = all_acked.send(());
        }
    })?;
    let (ready, all_ready) = mpsc::channel();
    ipc.on("ready", move |_event, _arg| {
        let _ = ready.send(());
    })?;

    let mut children = Vec::new();
    for _ in 0..RENDERERS {
        let cmd = &mut Command::new(std::env::current_exe()?);
        children.push(ipc.spawn(cmd.arg("--renderer"))?.1);
    }
    for _ in 0..RENDERERS {
        all_ready.recv()?;
    }
    // Fan-out: one message to every connected renderer.
    for renderer in ipc.renderers() {
        renderer.send("broadcast", "hello, everyone")?;
    }
    acked.recv()?;
    let mut ok = true;
    for mut child in children {
        ok &= child.wait()?.success();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn renderer() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcRenderer::from_env()?;
    let me = ipc.send_sync("who-am-i", [])?;
    println!("{}: I am {}", ipc.id(), String::from_utf8_lossy(&me));
    let (got, broadcast) = mpsc::channel();
    ipc.once("broadcast", move |_event, arg| {
        let _ = got.send(arg.to_vec());
    })?;
    ipc.send("ready", [])?;
    let message = broadcast.recv()?;
    ipc.send("ack", &message)?;
    // Main answers nothing more; leave once main has our ack (ordered).
    let _ = ipc.send_sync("who-am-i", []);
    Ok(ExitCode::SUCCESS)
}
