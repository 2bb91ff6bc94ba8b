//! `send_sync` round trips across two processes, beside the physical floor: a
//! raw spin ping-pong on one shared cache line between the same two
//! processes' cores. Also the cold call: one made after both sides parked.
//!
//! `cargo bench --bench roundtrip`. The bench binary is main; it re-executes
//! itself as the renderer, and criterion runs inside the renderer, the side
//! that sees the round trip. Main's `echo` listener returns the request, so
//! request and reply are the same size.

mod common;

use common::SpinPingPong;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use ringipc::IpcRenderer;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_BENCH_ROLE";
/// How long a cold call's caller sleeps first: past every spin budget, so
/// main's dispatcher and this process are both parked when it is made.
const COLD_GAP: Duration = Duration::from_millis(2);

fn main() -> ExitCode {
    common::main_then_renderer(ROLE, |_| {}, renderer)
}

fn renderer() {
    let ipc = IpcRenderer::from_env().expect("connect");
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("roundtrip");
    g.throughput(Throughput::Elements(1));

    let mut floor = SpinPingPong::start();
    g.bench_function("spin_pingpong_floor", |b| b.iter(|| floor.round_trip()));
    drop(floor);

    let mut reply = Vec::with_capacity(64 << 10);
    for (len, label) in [(16, "16B"), (1 << 10, "1KiB"), (64 << 10, "64KiB")] {
        let request = vec![0x5Au8; len];
        g.bench_function(BenchmarkId::new("send_sync_into", label), |b| {
            b.iter(|| {
                ipc.send_sync_into("echo", black_box(&request), &mut reply, None)
                    .unwrap();
                black_box(&reply);
            })
        });
    }
    let request = [0x5Au8; 16];
    g.bench_function(BenchmarkId::new("send_sync", "16B"), |b| {
        b.iter(|| black_box(ipc.send_sync("echo", black_box(&request)).unwrap()))
    });
    g.finish();

    // Criterion sizes its runs by the time it measures, which excludes the
    // gaps; a short measurement keeps the wall-clock time to seconds.
    let mut g = c.benchmark_group("roundtrip_cold");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(100));
    g.bench_function(BenchmarkId::new("send_sync_into", "16B"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                std::thread::sleep(COLD_GAP);
                let start = Instant::now();
                ipc.send_sync_into("echo", request, &mut reply, None)
                    .unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
    c.final_summary();
}
