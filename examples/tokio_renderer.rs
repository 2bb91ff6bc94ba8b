//! A renderer inside tokio: it receives main's messages and answers main's
//! `invoke`s in one task, and awaits its own `invoke`s of main in another.
//!
//! Run it with `cargo run --release --features tokio --example tokio_renderer`.
//! Main here is an ordinary one with its dispatcher thread.

use ringipc::async_io::AsyncRenderer;
use ringipc::{Error, IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::sync::Arc;

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("--renderer") => renderer(),
        _ => main_process(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_renderer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_process() -> Result<(), Box<dyn std::error::Error>> {
    let ipc = IpcMain::new()?;
    ipc.handle("time", |_, _| -> Result<&str, String> { Ok("tea time") })?;
    let (renderer, mut child) =
        ipc.spawn(Command::new(std::env::current_exe()?).arg("--renderer"))?;
    for i in 0..3 {
        renderer.send("news", format!("item {i}"))?;
    }
    let title = renderer.invoke("title", "")?.wait()?;
    println!(
        "main: the renderer's title is {:?}",
        String::from_utf8_lossy(&title)
    );
    renderer.send("news", "bye")?;
    assert!(child.wait()?.success());
    Ok(())
}

fn renderer() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ipc = IpcRenderer::from_env_without_receiver()?;
        ipc.handle("title", |_, _| -> Result<&str, String> {
            Ok("a tokio renderer")
        })?;
        let renderer = Arc::new(AsyncRenderer::new(ipc)?);
        let receiving = tokio::spawn({
            let renderer = renderer.clone();
            async move {
                loop {
                    let m = renderer.recv().await?;
                    let text = String::from_utf8_lossy(&m.payload).into_owned();
                    println!("renderer: {}: {text}", m.channel);
                    if text == "bye" {
                        return Ok::<(), Error>(());
                    }
                }
            }
        });
        let time = renderer.ipc().invoke("time", "")?.await?;
        println!(
            "renderer: main says it is {}",
            String::from_utf8_lossy(&time)
        );
        receiving.await??;
        Ok(())
    })
}
