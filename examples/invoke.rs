//! `invoke` / `handle`: request and response with errors and timeouts.
//!
//! Run it with `cargo run --release --example invoke`. Main registers a
//! handler that divides two numbers (and fails on a zero divisor) and one that
//! is slow; the renderer calls them blocking, as futures, with a timeout, and
//! on a channel with no handler, and prints what came back.

use ringipc::{Error, IpcMain, IpcRenderer};
use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    let result = if std::env::args().any(|a| a == "--renderer") {
        renderer()
    } else {
        main_process()
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("invoke: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pair(a: i64, b: i64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    bytes
}

fn main_process() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ipc = IpcMain::new()?;
    ipc.handle("divide", |_event, arg| {
        let [a, b]: [i64; 2] = ringipc::pod::read_pod(arg).ok_or("expected two i64s")?;
        if b == 0 {
            return Err(format!("cannot divide {a} by zero"));
        }
        Ok((a / b).to_le_bytes())
    })?;
    ipc.handle("slow", |_event, _arg| {
        std::thread::sleep(Duration::from_millis(200));
        Ok::<_, String>("finally")
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
    let quotient = |v: Vec<u8>| i64::from_le_bytes(v.try_into().unwrap_or_default());

    // Blocking.
    let q = ipc.invoke("divide", pair(84, 2))?.wait()?;
    println!("84 / 2 = {}", quotient(q));

    // The handler's error, with its text.
    match ipc.invoke("divide", pair(1, 0))?.wait() {
        Err(Error::HandlerFailed { message, .. }) => println!("1 / 0: main says \"{message}\""),
        other => println!("1 / 0: unexpected {other:?}"),
    }

    // Several in flight at once, answered in any order.
    let pending: Vec<_> = (1..=3)
        .map(|d| ipc.invoke("divide", pair(60, d)))
        .collect::<Result<_, _>>()?;
    for (d, p) in (1..=3).zip(pending) {
        println!("60 / {d} = {}", quotient(p.wait()?));
    }

    // A deadline.
    match ipc
        .invoke("slow", [])?
        .wait_timeout(Duration::from_millis(50))
    {
        Err(Error::Timeout) => println!("slow: gave up after 50 ms"),
        other => println!("slow: unexpected {other:?}"),
    }

    // No handler: an error at once, naming the channel.
    if let Err(e) = ipc.invoke("multiply", pair(6, 7))?.wait() {
        println!("multiply: {e}");
    }
    Ok(ExitCode::SUCCESS)
}
