//! (feature `tokio`) Main and renderers inside tokio, under the
//! current-thread and the multi-thread runtime: a main that serves renderers
//! while serving something else, and renderers that receive, invoke and
//! answer main's invokes as tasks.
#![cfg(feature = "tokio")]

mod common;

use common::*;
use ringipc::async_io::{AsyncMain, AsyncRenderer};
use ringipc::{Config, Error, IpcMain, IpcRenderer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);
const MESSAGES: u64 = 500;

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        "caller" => role_caller(),
        "tokio_renderer" => role_tokio_renderer(&arg),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn runtime(kind: &str) -> tokio::runtime::Runtime {
    match kind {
        "current" => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .unwrap()
}

/// A plain renderer: checked round trips, messages, and invokes.
fn role_caller() {
    let ipc = IpcRenderer::from_env().unwrap();
    for seq in 0..300u64 {
        let payload = pattern(seq, 24);
        assert_eq!(ipc.send_sync("echo", &payload).unwrap(), payload);
        ipc.send("note", &payload).unwrap();
        assert_eq!(
            ipc.invoke("double", [seq as u8]).unwrap().wait().unwrap(),
            [seq as u8; 2]
        );
        if seq % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn tokio_main(kind: &str) {
    let _serial = serial();
    let rt = runtime(kind);
    rt.block_on(async {
        let ipc = IpcMain::with_config(Config::default().dispatcher_thread(false)).unwrap();
        let notes = echo_and_notes(&ipc);
        ipc.handle("double", |_, arg| -> Result<Vec<u8>, String> {
            Ok([arg, arg].concat())
        })
        .unwrap();
        let main = Arc::new(AsyncMain::new(ipc.clone()).unwrap());
        let serving = tokio::spawn({
            let main = main.clone();
            async move { main.serve().await }
        });
        // Something else the service does meanwhile.
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
        let children: Vec<_> = (0..2).map(|_| spawn(&ipc, ENTRY, "caller", "")).collect();
        tokio::task::spawn_blocking(move || {
            for (_, mut c) in children {
                c.assert_success(LIMIT);
            }
        })
        .await
        .unwrap();
        assert_eq!(notes.load(Ordering::Relaxed), 600);
        assert!(ticks.load(Ordering::Relaxed) > 5, "the other work ran too");
        ipc.shutdown();
        serving.await.unwrap().unwrap();
        ticker.abort();
    });
}

#[test]
fn a_tokio_main_serves_renderers_beside_other_work_current_thread() {
    tokio_main("current");
}

#[test]
fn a_tokio_main_serves_renderers_beside_other_work_multi_thread() {
    tokio_main("multi");
}

/// A renderer as tokio tasks: one receives (and answers main's invokes
/// inside `recv`), the main task invokes main's handlers.
fn role_tokio_renderer(kind: &str) {
    let rt = runtime(kind);
    rt.block_on(async {
        let ipc = IpcRenderer::from_env_without_receiver().unwrap();
        ipc.handle("square", |_, arg| -> Result<Vec<u8>, String> {
            Ok(vec![arg[0].wrapping_mul(arg[0])])
        })
        .unwrap();
        let renderer = Arc::new(AsyncRenderer::new(ipc).unwrap());
        let receiving = tokio::spawn({
            let renderer = renderer.clone();
            async move {
                for seq in 0..MESSAGES {
                    let m = renderer.recv().await.unwrap();
                    assert_eq!(m.channel, "m");
                    assert_eq!(check_pattern(&m.payload).unwrap(), seq);
                }
                // Keep answering main's invokes until main goes.
                loop {
                    match renderer.recv().await {
                        Ok(_) => {}
                        Err(Error::Disconnected) => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        for i in 0..100u8 {
            let got = renderer
                .ipc()
                .invoke("add-one", [i])
                .unwrap()
                .await
                .unwrap();
            assert_eq!(got, [i.wrapping_add(1)]);
        }
        renderer.ipc().send("done", b"").unwrap();
        receiving.await.unwrap();
    });
}

fn tokio_renderer(kind: &str) {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    ipc.handle("add-one", |_, arg| -> Result<Vec<u8>, String> {
        Ok(vec![arg[0].wrapping_add(1)])
    })
    .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    ipc.on("done", move |_, _| {
        d.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "tokio_renderer", kind);
    for seq in 0..MESSAGES {
        wc.send("m", pattern(seq, 40)).unwrap();
        if seq % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for i in 0..20u8 {
        assert_eq!(
            wc.invoke("square", [i]).unwrap().wait().unwrap(),
            [i.wrapping_mul(i)]
        );
    }
    eventually(LIMIT, "the renderer's invokes", || {
        done.load(Ordering::Relaxed) == 1
    });
    drop(ipc);
    child.assert_success(LIMIT);
}

#[test]
fn a_renderer_inside_tokio_current_thread() {
    tokio_renderer("current");
}

#[test]
fn a_renderer_inside_tokio_multi_thread() {
    tokio_renderer("multi");
}
