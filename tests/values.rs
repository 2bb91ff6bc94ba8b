//! `serde` values as messages (feature `serde`): compact and JSON, structs
//! and tuples of arguments, both ways. `cargo test --features serde`.
#![cfg(feature = "serde")]

mod common;

use common::*;
use ringipc::value::serde::{Deserialize, Serialize};
use ringipc::value::{decode, decode_json};
use ringipc::{Error, IpcRenderer, WaitBackend};
use std::time::Duration;

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(crate = "ringipc::value::serde")]
struct Order {
    item: String,
    quantity: u32,
    notes: Option<String>,
}

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "values" => role_values(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn role_values() {
    let ipc = IpcRenderer::from_env().unwrap();
    let order = Order {
        item: "ping".into(),
        quantity: 3,
        notes: None,
    };
    let total: u64 = ipc.send_sync_value("price", &order).unwrap();
    assert_eq!(total, 3 * 250);
    // Several arguments: a tuple.
    let sum: i64 = ipc.send_sync_value("add", &(40i64, 2i64)).unwrap();
    assert_eq!(sum, 42);
    ipc.send_json("log", &order).unwrap();
    // A payload that is not the value asked for is an error, not a panic.
    match ipc.send_sync_value::<_, Order>("add", &(1i64, 1i64)) {
        Err(Error::Codec(_)) => {}
        other => panic!("expected Codec, got {other:?}"),
    }
    assert_eq!(ipc.send_sync("logged", []).unwrap(), b"yes");
}

#[test]
fn serde_values_both_ways() {
    let _serial = serial();
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("price", |e, arg| {
        let order: Order = decode(arg).unwrap();
        e.set_return_serialized(&(order.quantity as u64 * 250))
            .unwrap();
    })
    .unwrap();
    ipc.on("add", |e, arg| {
        let (a, b): (i64, i64) = decode(arg).unwrap();
        e.set_return_serialized(&(a + b)).unwrap();
    })
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    ipc.on("log", move |_, arg| {
        assert_eq!(
            std::str::from_utf8(arg).unwrap(),
            r#"{"item":"ping","quantity":3,"notes":null}"#
        );
        let order: Order = decode_json(arg).unwrap();
        tx.lock().unwrap().send(order).unwrap();
    })
    .unwrap();
    ipc.on("logged", |e, _| {
        e.set_return_value("yes");
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "values", "");
    child.assert_success(LIMIT);
    assert_eq!(rx.recv_timeout(LIMIT).unwrap().quantity, 3);
}
