//! Main as a tokio service: it serves renderers on the runtime's reactor
//! (no dispatcher thread) while the same runtime serves something else — a
//! ticker here, a network server in real life.
//!
//! Run it with `cargo run --release --features tokio --example tokio_main`.

use ringipc::async_io::AsyncMain;
use ringipc::{Config, IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("--renderer") => renderer(),
        _ => service(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_main: {e}");
            ExitCode::FAILURE
        }
    }
}

fn service() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ipc = IpcMain::with_config(Config::default().dispatcher_thread(false))?;
        ipc.handle("greet", |_, name| -> Result<String, String> {
            Ok(format!("hello, {}", String::from_utf8_lossy(name)))
        })?;
        let main = Arc::new(AsyncMain::new(ipc.clone())?);
        let serving = tokio::spawn({
            let main = main.clone();
            async move { main.serve().await }
        });
        // The service's other work, on the same runtime.
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let exe = std::env::current_exe()?;
        let mut children = Vec::new();
        for _ in 0..2 {
            children.push(ipc.spawn(Command::new(&exe).arg("--renderer"))?.1);
        }
        let statuses = tokio::task::spawn_blocking(move || {
            children
                .into_iter()
                .map(|mut c| c.wait())
                .collect::<Vec<_>>()
        })
        .await?;
        for status in statuses {
            assert!(status?.success());
        }
        let ticks = ticks.load(Ordering::Relaxed);
        println!(
            "served 2 renderers, and ticked {} meanwhile",
            if ticks > 0 { "too" } else { "not" }
        );
        ipc.shutdown();
        serving.await??;
        ticker.abort();
        Ok(())
    })
}

fn renderer() -> Result<(), Box<dyn std::error::Error>> {
    let ipc = IpcRenderer::from_env()?;
    for i in 0..100 {
        let answer = ipc
            .invoke("greet", format!("renderer {} (call {i})", ipc.id()))?
            .wait()?;
        assert!(answer.starts_with(b"hello, renderer"));
    }
    Ok(())
}
