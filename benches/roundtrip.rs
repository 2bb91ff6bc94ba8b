//! `send_sync` round trip across two processes, beside the physical floor: a raw
//! spin ping-pong on one shared cache line between the same two processes'
//! cores.
//!
//! `cargo bench --bench roundtrip`. The bench binary is main; it re-executes
//! itself as the renderer, and criterion runs inside the renderer, the side
//! that sees the round trip.

mod common;

use common::SpinPingPong;
use criterion::{Criterion, Throughput};
use ringipc::IpcRenderer;
use std::hint::black_box;
use std::process::ExitCode;

const ROLE: &str = "RINGIPC_BENCH_ROLE";

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

    let request = [0x5Au8; 16];
    let mut reply = Vec::with_capacity(64);
    g.bench_function("send_sync_into_16B", |b| {
        b.iter(|| {
            ipc.send_sync_into("echo", black_box(&request), &mut reply, None)
                .unwrap();
            black_box(&reply);
        })
    });
    g.bench_function("send_sync_16B", |b| {
        b.iter(|| black_box(ipc.send_sync("echo", black_box(&request)).unwrap()))
    });
    g.finish();
    c.final_summary();
}
