//! Main inside a host's own event loop: a plain `poll(2)` loop that also
//! watches standard input, hosting main with two renderers. No dispatcher
//! thread: main's work runs on this thread, when its descriptor says so.
//!
//! Run it with `cargo run --release --example poll_host`. Each renderer
//! makes calls and sends messages; main also asks each one for its name
//! (main → renderer `invoke`). The loop ends when both renderers are gone.

use ringipc::{Config, IpcMain, IpcRenderer};
use std::os::fd::AsRawFd;
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("--renderer") => renderer(),
        _ => host(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("poll_host: {e}");
            ExitCode::FAILURE
        }
    }
}

fn host() -> Result<(), Box<dyn std::error::Error>> {
    let ipc = IpcMain::with_config(Config::default().dispatcher_thread(false))?;
    ipc.on("add", |event, arg| {
        let sum: u32 = arg.iter().map(|&b| u32::from(b)).sum();
        event.set_return_value(sum.to_le_bytes());
    })?;
    ipc.on("log", |event, arg| {
        println!(
            "renderer {}: {}",
            event.sender().id(),
            String::from_utf8_lossy(arg)
        );
    })?;
    // Once a renderer has its handler up, ask it for its name (main →
    // renderer invoke; never blocks the dispatch, so a listener may do it).
    let names = Arc::new(Mutex::new(Vec::new()));
    let asked = names.clone();
    ipc.on("ready", move |event, _| {
        if let Ok(call) = event.sender().invoke("name", "") {
            asked.lock().unwrap().push(call);
        }
        event.set_return_value("");
    })?;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..2 {
        children.push(ipc.spawn(Command::new(&exe).arg("--renderer"))?.1);
    }

    // The host's loop: main's descriptor beside the host's own (stdin here).
    let mut fds = [
        libc::pollfd {
            fd: ipc.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut wakes = 0;
    loop {
        // The contract: take everything until dispatch reports nothing.
        while ipc.dispatch(Duration::ZERO)? > 0 {}
        if ipc.renderers().is_empty()
            && children
                .iter_mut()
                .all(|c| c.try_wait().ok().flatten().is_some())
        {
            break;
        }
        // SAFETY: `fds` is a live array of two pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if ready > 0 {
            wakes += 1;
        }
        if fds[1].revents != 0 {
            // The host's own work would go here; stop watching a closed stdin.
            fds[1].fd = -1;
        }
    }
    for name in std::mem::take(&mut *names.lock().unwrap()) {
        println!(
            "a renderer called itself {}",
            String::from_utf8_lossy(&name.wait()?)
        );
    }
    for mut child in children {
        assert!(child.wait()?.success());
    }
    println!("done after {wakes} wake-ups");
    Ok(())
}

fn renderer() -> Result<(), Box<dyn std::error::Error>> {
    let ipc = IpcRenderer::from_env()?;
    let me = format!("renderer-{}", ipc.id());
    ipc.handle("name", move |_, _| -> Result<Vec<u8>, String> {
        Ok(me.clone().into_bytes())
    })?;
    ipc.send_sync("ready", "")?;
    for i in 0..100u8 {
        let sum = ipc.send_sync("add", [i, 1, 2])?;
        assert_eq!(
            u32::from_le_bytes(sum.try_into().unwrap()),
            u32::from(i) + 3
        );
    }
    ipc.send("log", "made 100 calls")?;
    // Give main's `invoke` time to reach us before leaving.
    std::thread::sleep(Duration::from_millis(50));
    Ok(())
}
