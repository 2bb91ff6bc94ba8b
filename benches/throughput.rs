//! One-way message throughput in both directions, for payloads from 64 bytes
//! to 1 MiB, beside `memcpy` of the same sizes measured in the same run.
//!
//! `cargo bench --bench throughput`. Rings are 4 MiB so that a 1 MiB message
//! fits whole. Renderer → main: the renderer sends a batch into a counting
//! listener and then makes one `send_sync`, which main answers only after
//! every earlier message (one ring, one order), so the time covers delivery.
//! Main → renderer: a thread in main sends the batch, pacing itself on
//! [`WebContents::queued_bytes`] so the outbox stays small, into a counting
//! listener on the renderer's receiver thread; the clock stops when the last
//! one was counted.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput};
use ringipc::{Config, IpcMain, IpcRenderer, WebContents};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_THROUGHPUT_ROLE";
const RING: usize = 4 << 20;
const SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];

fn main() -> ExitCode {
    let config = Config::default()
        .request_ring_capacity(RING)
        .reply_ring_capacity(RING);
    common::main_then_renderer_with(ROLE, config, main_setup, renderer)
}

/// A request to main's blaster thread: send `count` messages of `len` bytes.
struct Blast {
    to: WebContents,
    count: u64,
    len: usize,
}

fn main_setup(ipc: &IpcMain) {
    let counted = Arc::new(AtomicU64::new(0));
    let c = counted.clone();
    ipc.on("count", move |_, arg| {
        c.fetch_add(1, Ordering::Relaxed);
        black_box(arg);
    })
    .expect("listen");
    ipc.on("counted", move |event, _| {
        event.set_return_value(counted.swap(0, Ordering::Relaxed).to_le_bytes());
    })
    .expect("listen");

    let (tx, rx) = mpsc::channel::<Blast>();
    std::thread::spawn(move || {
        let payload = vec![0xA5u8; 1 << 20];
        for Blast { to, count, len } in rx {
            for _ in 0..count {
                while to.queued_bytes() > 0 {
                    std::hint::spin_loop();
                }
                if to.send("blasted", &payload[..len]).is_err() {
                    return;
                }
            }
        }
    });
    let tx = std::sync::Mutex::new(tx);
    ipc.on("blast", move |event, arg| {
        let count = u64::from_le_bytes(arg[..8].try_into().expect("count"));
        let len = u64::from_le_bytes(arg[8..16].try_into().expect("len")) as usize;
        let to = event.sender().clone();
        tx.lock()
            .unwrap()
            .send(Blast { to, count, len })
            .expect("blaster");
        event.set_return_value([]);
    })
    .expect("listen");
}

fn renderer() {
    let ipc = IpcRenderer::from_env().expect("connect");
    // The listener wakes this (the measuring) thread once `target` messages
    // arrived, so that it does not compete for a core while it waits.
    let received = Arc::new(AtomicU64::new(0));
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let (r, t, me) = (received.clone(), target.clone(), std::thread::current());
    ipc.on("blasted", move |_, arg| {
        black_box(arg);
        if r.fetch_add(1, Ordering::Release) + 1 == t.load(Ordering::Relaxed) {
            me.unpark();
        }
    })
    .expect("listen");

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("throughput");
    for (len, label) in SIZES {
        g.throughput(Throughput::Bytes(len as u64));
        let payload = vec![0x5Au8; len];

        let mut dst = vec![0u8; len];
        g.bench_function(BenchmarkId::new("memcpy", label), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&payload));
                black_box(&mut dst);
            })
        });

        g.bench_function(BenchmarkId::new("renderer_to_main", label), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    ipc.send("count", &payload).expect("send");
                }
                let counted = ipc.send_sync("counted", []).expect("counted");
                let elapsed = start.elapsed();
                assert_eq!(u64::from_le_bytes(counted.try_into().unwrap()), iters);
                elapsed
            })
        });

        g.bench_function(BenchmarkId::new("main_to_renderer", label), |b| {
            b.iter_custom(|iters| {
                let until = received.load(Ordering::Acquire) + iters;
                target.store(until, Ordering::Relaxed);
                let mut order = [0u8; 16];
                order[..8].copy_from_slice(&iters.to_le_bytes());
                order[8..].copy_from_slice(&(len as u64).to_le_bytes());
                let start = Instant::now();
                ipc.send_sync("blast", order).expect("blast");
                while received.load(Ordering::Acquire) < until {
                    std::thread::park_timeout(Duration::from_millis(1));
                }
                start.elapsed()
            })
        });
    }
    g.finish();
    c.final_summary();
}
