//! A service that renderers attach to: main listens on a Unix socket, and
//! any process of the same user may connect (`attach_client`), play the
//! seed's ping/pong, and leave. Main did not spawn any of them.
//!
//! ```text
//! cargo run --release --example attach_service -- /tmp/ringipc-demo.sock &
//! cargo run --release --example attach_client -- /tmp/ringipc-demo.sock
//! ```
//!
//! `--clients N` makes the service exit once N renderers have come and
//! gone (CI runs it so); without it, it serves until killed.

use ringipc::IpcMain;
use std::process::ExitCode;
use std::sync::mpsc;

fn main() -> ExitCode {
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attach_service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = std::env::temp_dir().join("ringipc-demo.sock");
    let mut clients = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--clients" => clients = Some(args.next().ok_or("--clients N")?.parse::<usize>()?),
            other => path = other.into(),
        }
    }
    let ipc = IpcMain::new()?;
    ipc.on("synchronous-message", |event, arg| {
        println!("{}", String::from_utf8_lossy(arg)); // prints "ping"
        event.set_return_value("pong");
    })?;
    ipc.on("asynchronous-message", |event, arg| {
        println!("{}", String::from_utf8_lossy(arg)); // prints "ping"
        let _ = event.sender().send("asynchronous-reply", "pong");
    })?;
    let (gone_tx, gone) = mpsc::channel();
    ipc.on_connected(|renderer| {
        println!(
            "renderer {} attached (pid {})",
            renderer.id(),
            renderer.process_id()
        );
    });
    ipc.on_disconnected(move |renderer, reason| {
        println!("renderer {} left: {reason}", renderer.id());
        let _ = gone_tx.send(());
    });
    ipc.listen(&*path)?;
    println!("listening on {}", path.display());
    match clients {
        Some(n) => {
            for _ in 0..n {
                gone.recv()?;
            }
        }
        None => loop {
            std::thread::park();
        },
    }
    // Removes the socket file.
    ipc.shutdown();
    Ok(())
}
