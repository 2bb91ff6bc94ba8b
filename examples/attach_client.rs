//! A renderer that attaches to `attach_service` (see there): it was started
//! by hand, not by main, and connects through main's socket.

use ringipc::IpcRenderer;
use std::process::ExitCode;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attach_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ringipc-demo.sock"));
    let ipc = IpcRenderer::connect(&*path)?;
    let pong = ipc.send_sync("synchronous-message", "ping")?;
    println!("{}", String::from_utf8_lossy(&pong)); // prints "pong"
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    ipc.on("asynchronous-reply", move |_event, arg| {
        let _ = tx.lock().map(|tx| tx.send(arg.to_vec()));
    })?;
    ipc.send("asynchronous-message", "ping")?;
    let reply = rx.recv_timeout(Duration::from_secs(10))?;
    println!("{}", String::from_utf8_lossy(&reply)); // prints "pong"
    Ok(())
}
