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

use common::BlastCounter;
use criterion::{BenchmarkId, Criterion, Throughput};
use ringipc::{Config, IpcMain, IpcRenderer};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

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

fn main_setup(ipc: &IpcMain) {
    common::serve_counting(ipc);
    common::serve_blasts(ipc);
}

fn renderer() {
    let ipc = IpcRenderer::from_env().expect("connect");
    let blasts = BlastCounter::install(&ipc);

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
            b.iter_custom(|iters| common::send_counted(&ipc, iters, &payload))
        });

        g.bench_function(BenchmarkId::new("main_to_renderer", label), |b| {
            b.iter_custom(|iters| blasts.blast(&ipc, iters, len))
        });
    }
    g.finish();
    c.final_summary();
}
