//! Messages of any size, up to main's limit, in both directions, through rings
//! far smaller than they are: split into fragments, reassembled in order, and
//! interleaved with other threads' calls on the same ring.

mod common;

use common::*;
use ringipc::{Config, Error, IpcMain, IpcRenderer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);
/// The smallest ring there is, both ways.
const RING: usize = 4096;
const MAX_MESSAGE: usize = 8 << 20;
/// From nothing, around one record's limits (in the smallest rings, and
/// where default rings start writing with non-temporal stores), to main's
/// limit.
const SIZES: [usize; 13] = [
    0,
    1,
    4000,
    4050,
    4096,
    4097,
    20_000,
    32_767,
    32_800,
    300_000,
    1 << 20,
    3 << 20,
    MAX_MESSAGE,
];

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "sizes" => role_sizes(),
        "abandons" => role_abandons(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn main_with_small_rings() -> IpcMain {
    IpcMain::with_config(
        Config::default()
            .request_ring_capacity(RING)
            .reply_ring_capacity(RING)
            .max_message_len(MAX_MESSAGE),
    )
    .unwrap()
}

fn role_sizes() {
    let ipc = Arc::new(IpcRenderer::from_env().unwrap());
    // Main → renderer: main sends every size back; they must arrive in order.
    let (tx, rx) = mpsc::channel();
    let next = Mutex::new(0u64);
    ipc.on("sized_back", move |_, arg| {
        let seq = check_pattern(arg).unwrap_or_else(|e| panic!("{e}"));
        let mut next = next.lock().unwrap();
        assert_eq!(seq, *next, "out of order");
        assert_eq!(arg.len(), SIZES[seq as usize % SIZES.len()].max(8));
        *next += 1;
        tx.send(()).unwrap();
    })
    .unwrap();
    // Another thread makes small calls all along, on the same ring.
    let stop = Arc::new(AtomicBool::new(false));
    let chatter = {
        let (ipc, stop) = (ipc.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let request = pattern(1_000_000 + n, 24);
                assert_eq!(ipc.send_sync("echo", &request).unwrap(), request);
                n += 1;
            }
            n
        })
    };
    for (seq, &len) in SIZES.iter().enumerate() {
        let message = pattern(seq as u64, len);
        ipc.send("sized", &message).unwrap();
        let reply = ipc.send_sync("echo", &message).unwrap();
        assert!(reply == message, "echo of {len} bytes came back wrong");
    }
    ipc.send("send_sizes_back", []).unwrap();
    for _ in SIZES {
        rx.recv_timeout(LIMIT).expect("a message from main");
    }
    stop.store(true, Ordering::Relaxed);
    let calls = chatter.join().unwrap();
    assert!(calls > 0);
    let got = ipc.send_sync("sized_count", []).unwrap();
    assert_eq!(
        u64::from_le_bytes(got.try_into().unwrap()),
        SIZES.len() as u64
    );
}

#[test]
fn any_size_both_ways_through_the_smallest_rings() {
    let _serial = serial();
    any_size_both_ways(main_with_small_rings());
}

/// Rings of the default size take payloads of 32 KiB and more with
/// non-temporal stores, both ways, unless main turns them off.
#[test]
fn any_size_both_ways_through_default_rings_with_and_without_streaming_stores() {
    let _serial = serial();
    for streaming in [true, false] {
        let config = Config::default()
            .max_message_len(MAX_MESSAGE)
            .streaming_stores(streaming);
        any_size_both_ways(IpcMain::with_config(config).unwrap());
    }
}

/// Rings past the cut-off for non-temporal stores (512 KiB) take big
/// payloads with plain stores even with them on; calls of 1 MiB go in
/// 128 KiB pieces there.
#[test]
fn any_size_both_ways_through_rings_past_the_streaming_cut_off() {
    let _serial = serial();
    let config = Config::default()
        .max_message_len(MAX_MESSAGE)
        .request_ring_capacity(1 << 20)
        .reply_ring_capacity(1 << 20);
    any_size_both_ways(IpcMain::with_config(config).unwrap());
}

fn any_size_both_ways(ipc: IpcMain) {
    ipc.on("echo", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    let sized = Arc::new(AtomicU64::new(0));
    let s = sized.clone();
    ipc.on("sized", move |_, arg| {
        let seq = check_pattern(arg).unwrap();
        assert_eq!(seq, s.load(Ordering::Relaxed), "out of order");
        assert_eq!(arg.len(), SIZES[seq as usize].max(8));
        s.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    ipc.on("sized_count", move |e, _| {
        e.set_return_value(sized.load(Ordering::Relaxed).to_le_bytes());
    })
    .unwrap();
    ipc.on("send_sizes_back", |e, _| {
        for (seq, &len) in SIZES.iter().enumerate() {
            e.sender()
                .send("sized_back", pattern(seq as u64, len))
                .unwrap();
        }
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "sizes", "");
    child.assert_success(LIMIT);
}

/// Starts a long message while main is held, gives up half way, then sends a
/// short one: main must see only the short one.
fn role_abandons() {
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send("hold", []).unwrap();
    let start = Instant::now();
    match ipc.send_timeout("sized", pattern(0, 100_000), Duration::from_millis(50)) {
        Err(Error::Timeout) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(50));
    println!("GAVE UP");
    ipc.send("sized", pattern(1, 100)).unwrap();
    let got = ipc.send_sync("sized_seen", []).unwrap();
    assert_eq!(
        got,
        1u64.to_le_bytes(),
        "the abandoned message was delivered"
    );
}

#[test]
fn a_message_abandoned_half_way_is_dropped_whole() {
    let _serial = serial();
    let ipc = main_with_small_rings();
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    // Main reads nothing until the renderer has written part of its message
    // and given up (it says so on stdout).
    ipc.on("hold", move |_, _| {
        while !g.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
    })
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    ipc.on("sized", move |_, arg| {
        s.lock().unwrap().push(check_pattern(arg).unwrap());
    })
    .unwrap();
    let s = seen.clone();
    ipc.on("sized_seen", move |e, _| {
        let seen = s.lock().unwrap();
        assert_eq!(*seen, [1], "only the short message");
        e.set_return_value((seen.len() as u64).to_le_bytes());
    })
    .unwrap();
    let mut cmd = role_command(ENTRY, "abandons", "");
    cmd.stdout(std::process::Stdio::piped());
    let (_wc, child) = ipc.spawn(&mut cmd).unwrap();
    let mut child = ChildGuard(Some(child));
    let rx = lines(&mut child);
    line_with(&rx, LIMIT, "GAVE UP");
    gate.store(true, Ordering::Release);
    child.assert_success(LIMIT);
    assert_eq!(*seen.lock().unwrap(), [1]);
}
