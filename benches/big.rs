//! Big messages, each figure beside `memcpy` of the same size in the same
//! run: `send_sync` echo round trips of 64 KiB, 1 MiB and 16 MiB (a round
//! trip copies the payload four times: into the ring, out to main, into the
//! reply ring, out to the caller), and one-way streams of 1 MiB messages
//! both ways, beside a floor of such a stream: the same two copies across
//! cores through a shared ring of the default size, with plain stores and
//! no protocol. Then the echoes again through 1 MiB rings.
//!
//! `cargo bench --bench big`. The bench binary is main (with `echo`, and the
//! blast and counting listeners); it re-executes itself as the renderer,
//! which measures and prints the table; then it starts a second main, with
//! 1 MiB rings, and a second renderer for the last rows.

mod common;

use common::BlastCounter;
use ringipc::{Config, IpcRenderer};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_BIG_ROLE";
/// The second renderer's: the same echoes through rings of [`BIG_RING`].
const BIG_RINGS_ROLE: &str = "RINGIPC_BIG_RINGS_ROLE";
/// The smallest rings that take big payloads with plain stores (past
/// `ring.rs`'s cut-off for non-temporal ones), through which a 1 MiB call
/// goes in eight pieces: what `Config::request_ring_capacity` advises for
/// big messages.
const BIG_RING: usize = 1 << 20;
/// (size, label, round trips timed).
const ECHOES: [(usize, &str, usize); 3] = [
    (64 << 10, "64 KiB", 2000),
    (1 << 20, "1 MiB", 200),
    (16 << 20, "16 MiB", 20),
];
/// One-way 1 MiB messages per stream measurement, and how many of those.
const STREAM_MESSAGES: u64 = 200;
const STREAMS: usize = 5;

fn main() -> ExitCode {
    let big_rings = Config::default()
        .request_ring_capacity(BIG_RING)
        .reply_ring_capacity(BIG_RING);
    if std::env::var_os(BIG_RINGS_ROLE).is_some() {
        // The second renderer (this runs it, the role being set).
        return common::main_then_renderer_with(
            BIG_RINGS_ROLE,
            big_rings,
            |_| {},
            || {
                let ipc = IpcRenderer::from_env().expect("connect");
                println!("the same echoes through {} MiB rings", BIG_RING >> 20);
                echo_rows(&ipc);
            },
        );
    }
    let default_rings = common::main_then_renderer(
        ROLE,
        |ipc| {
            common::serve_counting(ipc);
            common::serve_blasts(ipc);
        },
        renderer,
    );
    if std::env::var_os(ROLE).is_some() {
        return default_rings;
    }
    // Main again, with another main for the second renderer.
    let big = common::main_then_renderer_with(BIG_RINGS_ROLE, big_rings, |_| {}, || {});
    if default_rings == ExitCode::SUCCESS {
        big
    } else {
        default_rings
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The median time of one `memcpy` of `len` bytes between two buffers
/// that are already mapped (the round trips' buffers are warm too).
fn memcpy_time(len: usize, times: usize) -> Duration {
    let src = vec![0x5Au8; len];
    let mut dst = vec![0u8; len];
    let samples = (0..times.max(20))
        .map(|_| {
            let start = Instant::now();
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn renderer() {
    let ipc = IpcRenderer::from_env().expect("connect");
    let blasts = BlastCounter::install(&ipc);
    println!("big messages, medians; ratio = ringipc / memcpy of one copy of the size");
    println!(
        "{:<40} {:>12} {:>12} {:>8}",
        "", "ringipc", "memcpy", "ratio"
    );
    echo_rows(&ipc);

    let len = 1 << 20;
    let payload = vec![0x5Au8; len];
    let copy = memcpy_time(len, 200).as_secs_f64();
    let memcpy_rate = len as f64 / copy;
    let mut to_main = || common::send_counted(&ipc, STREAM_MESSAGES, &payload);
    let mut to_renderer = || blasts.blast(&ipc, STREAM_MESSAGES, len);
    let streams: [(&str, &mut dyn FnMut() -> Duration); 2] = [
        ("stream 1 MiB, renderer -> main", &mut to_main),
        ("stream 1 MiB, main -> renderer", &mut to_renderer),
    ];
    // What two copies across cores allow at all: the same ring size and
    // pieces as a default ringipc ring, with no protocol.
    let floor = || common::raw_stream(len, STREAM_MESSAGES as usize, 256 << 10, 64 << 10);
    let floor_rate = {
        let samples = (0..STREAMS).map(|_| floor()).collect();
        len as f64 * STREAM_MESSAGES as f64 / median(samples).as_secs_f64()
    };
    println!(
        "{:<40} {:>9.2} GB/s {:>6.2} GB/s {:>6.0} % of memcpy",
        "stream 1 MiB, raw two-copy floor",
        floor_rate / 1e9,
        memcpy_rate / 1e9,
        100.0 * floor_rate / memcpy_rate
    );
    for (name, measure) in streams {
        let samples = (0..STREAMS).map(|_| measure()).collect();
        let per_message = median(samples).as_secs_f64() / STREAM_MESSAGES as f64;
        let rate = len as f64 / per_message;
        println!(
            "{:<40} {:>9.2} GB/s {:>6.2} GB/s {:>6.0} % of memcpy {:>4.0} % of floor",
            name,
            rate / 1e9,
            memcpy_rate / 1e9,
            100.0 * rate / memcpy_rate,
            100.0 * rate / floor_rate
        );
    }
}

/// One row per echo size: the median round trip beside one `memcpy`.
fn echo_rows(ipc: &IpcRenderer) {
    let mut reply = Vec::new();
    for (len, label, times) in ECHOES {
        let request = vec![0x5Au8; len];
        for _ in 0..3 {
            ipc.send_sync_into("echo", &request, &mut reply, None)
                .expect("echo");
        }
        let samples = (0..times)
            .map(|_| {
                let start = Instant::now();
                ipc.send_sync_into("echo", &request, &mut reply, None)
                    .expect("echo");
                start.elapsed()
            })
            .collect();
        assert_eq!(reply.len(), len);
        let rt = median(samples);
        let copy = memcpy_time(len, times);
        println!(
            "{:<40} {:>9.1} µs {:>9.1} µs {:>7.1}x",
            format!("send_sync echo round trip, {label}"),
            rt.as_secs_f64() * 1e6,
            copy.as_secs_f64() * 1e6,
            rt.as_secs_f64() / copy.as_secs_f64()
        );
    }
}
