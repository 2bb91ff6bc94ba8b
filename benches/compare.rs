//! ringipc beside the alternatives, in one process tree and one run.
//!
//! `cargo bench --bench compare` prints one table: round-trip percentiles (HDR
//! histogram) for a raw shared-memory spin ping-pong (the physical floor),
//! ringipc `send_sync` with both sides awake, a Unix socket and a pipe, each
//! measured in interleaved blocks so that they share the machine's moods; then
//! the cold path (both sides asleep), and one-way message rates.
//!
//! The bench binary is main; it re-executes itself as the renderer, which runs
//! the measurements and forks the peers' echo processes. Every child dies with
//! its parent (`PR_SET_PDEATHSIG`) and is reaped on the way out.
//!
//! Peers that need other crates (`ipc-channel`, `iceoryx2`) are not in this
//! comparison yet; see BENCHMARKS.md.

mod common;

use common::{SpinPingPong, fork_child, reap};
use hdrhistogram::Histogram;
use ringipc::IpcRenderer;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_COMPARE_ROLE";
/// Interleaved blocks per transport.
const ROUNDS: usize = 10;
/// Round trips per block.
const SAMPLES: usize = 20_000;
/// Cold calls, each after both sides have gone to sleep.
const COLD_SAMPLES: usize = 200;
/// How long to sleep before a cold call: past every spin budget.
const COLD_GAP: Duration = Duration::from_millis(3);
/// One-way messages per rate measurement.
const MESSAGES: u64 = 2_000_000;
const MESSAGE_LEN: usize = 64;

fn main() -> ExitCode {
    common::main_then_renderer(
        ROLE,
        |ipc| {
            let count = Arc::new(AtomicU64::new(0));
            let c = count.clone();
            ipc.on("count", move |_, _| {
                c.fetch_add(1, Ordering::Relaxed);
            })
            .expect("listen");
            ipc.on("counted", move |event, _| {
                event.set_return_value(count.swap(0, Ordering::Relaxed).to_le_bytes());
            })
            .expect("listen");
        },
        renderer,
    )
}

impl RoundTrip for SpinPingPong {
    fn name(&self) -> &'static str {
        "raw spin ping-pong (floor)"
    }

    fn round_trip(&mut self) {
        SpinPingPong::round_trip(self);
    }
}

/// Something that can do one 16-byte request/reply round trip.
trait RoundTrip {
    fn name(&self) -> &'static str;
    fn round_trip(&mut self);
}

fn renderer() {
    let ipc = IpcRenderer::from_env().expect("connect");
    let clock = Clock::calibrate();
    let mut transports: Vec<Box<dyn RoundTrip + '_>> = vec![
        Box::new(SpinPingPong::start()),
        Box::new(Ringipc {
            ipc: &ipc,
            reply: Vec::with_capacity(64),
        }),
        Box::new(StreamEcho::unix_socket()),
        Box::new(StreamEcho::pipe()),
    ];
    let mut hot: Vec<Histogram<u64>> = transports.iter().map(|_| histogram()).collect();
    let mut timer = histogram();
    for _ in 0..ROUNDS {
        for (t, h) in transports.iter_mut().zip(&mut hot) {
            for _ in 0..SAMPLES / 10 {
                t.round_trip();
            }
            for _ in 0..SAMPLES {
                let start = clock.now();
                t.round_trip();
                h.saturating_record(clock.nanos_since(start));
            }
        }
        for _ in 0..SAMPLES {
            let start = clock.now();
            timer.saturating_record(clock.nanos_since(start));
        }
    }

    // The peers' processes go before the cold phase: a floor child polling in
    // the background would wake the very cores the cold calls find asleep.
    let names: Vec<&str> = transports.iter().map(|t| t.name()).collect();
    drop(transports);

    let mut cold_ringipc = histogram();
    let mut cold_socket = histogram();
    let mut socket = StreamEcho::unix_socket();
    let mut ringipc = Ringipc {
        ipc: &ipc,
        reply: Vec::new(),
    };
    for _ in 0..COLD_SAMPLES {
        for (t, h) in [
            (&mut ringipc as &mut dyn RoundTrip, &mut cold_ringipc),
            (&mut socket, &mut cold_socket),
        ] {
            std::thread::sleep(COLD_GAP);
            let start = clock.now();
            t.round_trip();
            h.saturating_record(clock.nanos_since(start));
        }
    }
    drop(socket);

    let ringipc_rate = ringipc_messages_per_second(&ipc);
    let socket_rate = socket_messages_per_second();

    println!();
    println!(
        "round trips, 16-byte request and reply; {ROUNDS} interleaved blocks of {SAMPLES} per transport"
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>12} {:>10}",
        "transport", "p50 ns", "p99 ns", "p99.9 ns", "calls/s", "p50/floor"
    );
    let floor = hot[0].value_at_quantile(0.5).max(1) as f64;
    for (name, h) in names.iter().zip(&hot) {
        row(name, h, floor);
    }
    row("ringipc send_sync, cold", &cold_ringipc, floor);
    row("Unix socket, cold", &cold_socket, floor);
    println!(
        "timer overhead (included above): p50 {} ns",
        timer.value_at_quantile(0.5)
    );
    println!();
    println!("one-way messages of {MESSAGE_LEN} bytes into a counting receiver");
    println!("{:<34} {:>14}", "transport", "messages/s");
    println!("{:<34} {:>14.0}", "ringipc send", ringipc_rate);
    println!("{:<34} {:>14.0}", "Unix socket (std)", socket_rate);
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

fn row(name: &str, h: &Histogram<u64>, floor: f64) {
    let p50 = h.value_at_quantile(0.5);
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>12.0} {:>9.2}x",
        name,
        p50,
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        1e9 / h.mean(),
        p50 as f64 / floor
    );
}

struct Ringipc<'a> {
    ipc: &'a IpcRenderer,
    reply: Vec<u8>,
}

impl RoundTrip for Ringipc<'_> {
    fn name(&self) -> &'static str {
        "ringipc send_sync, hot"
    }

    fn round_trip(&mut self) {
        self.ipc
            .send_sync_into("echo", [0x5Au8; 16], &mut self.reply, None)
            .expect("send_sync");
    }
}

fn ringipc_messages_per_second(ipc: &IpcRenderer) -> f64 {
    let msg = [7u8; MESSAGE_LEN];
    let start = Instant::now();
    for _ in 0..MESSAGES {
        ipc.send("count", msg).expect("send");
    }
    // Replies are ordered after every message sent before: when this returns,
    // main's listener has counted them all.
    let counted = ipc.send_sync("counted", []).expect("counted");
    let elapsed = start.elapsed();
    assert_eq!(u64::from_le_bytes(counted.try_into().unwrap()), MESSAGES);
    MESSAGES as f64 / elapsed.as_secs_f64()
}

fn socket_messages_per_second() -> f64 {
    let (mut ours, mut theirs) = UnixStream::pair().expect("socketpair");
    let child = fork_child(move || {
        let mut buf = [0u8; MESSAGE_LEN];
        for _ in 0..MESSAGES {
            theirs.read_exact(&mut buf).expect("read message");
        }
        theirs.write_all(&[1]).expect("ack");
    });
    let msg = [7u8; MESSAGE_LEN];
    let start = Instant::now();
    for _ in 0..MESSAGES {
        ours.write_all(&msg).expect("write message");
    }
    let mut ack = [0u8; 1];
    ours.read_exact(&mut ack).expect("ack");
    let elapsed = start.elapsed();
    reap(child);
    MESSAGES as f64 / elapsed.as_secs_f64()
}

/// A forked child that echoes 16-byte requests over a stream (a Unix socket
/// pair, or two pipes).
struct StreamEcho {
    name: &'static str,
    tx: std::fs::File,
    rx: std::fs::File,
    child: libc::pid_t,
}

impl StreamEcho {
    fn unix_socket() -> StreamEcho {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let file = |s: UnixStream| std::fs::File::from(OwnedFd::from(s));
        let (ours2, theirs2) = (ours.try_clone().unwrap(), theirs.try_clone().unwrap());
        Self::start(
            "Unix socket (std)",
            file(ours),
            file(ours2),
            file(theirs),
            file(theirs2),
        )
    }

    fn pipe() -> StreamEcho {
        let (to_child_r, to_child_w) = pipe();
        let (from_child_r, from_child_w) = pipe();
        Self::start("pipe", to_child_w, from_child_r, from_child_w, to_child_r)
    }

    fn start(
        name: &'static str,
        tx: std::fs::File,
        rx: std::fs::File,
        mut child_tx: std::fs::File,
        mut child_rx: std::fs::File,
    ) -> StreamEcho {
        let child = fork_child(move || {
            let mut buf = [0u8; 16];
            while child_rx.read_exact(&mut buf).is_ok() {
                if child_tx.write_all(&buf).is_err() {
                    break;
                }
            }
        });
        StreamEcho {
            name,
            tx,
            rx,
            child,
        }
    }
}

impl RoundTrip for StreamEcho {
    fn name(&self) -> &'static str {
        self.name
    }

    fn round_trip(&mut self) {
        let mut buf = [0x5Au8; 16];
        self.tx.write_all(&buf).expect("write request");
        self.rx.read_exact(&mut buf).expect("read reply");
    }
}

impl Drop for StreamEcho {
    fn drop(&mut self) {
        // SAFETY: SIGKILL to our own forked child, then reap it.
        unsafe { libc::kill(self.child, libc::SIGKILL) };
        reap(self.child);
    }
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

/// Timestamps for samples: the TSC where there is one (a read costs a few
/// nanoseconds, against ~20 ns for the OS clock on a VM), calibrated against
/// `Instant`.
struct Clock {
    #[cfg(target_arch = "x86_64")]
    ns_per_tick: f64,
}

impl Clock {
    #[cfg(target_arch = "x86_64")]
    fn calibrate() -> Clock {
        let (t0, c0) = (Instant::now(), Self::ticks());
        std::thread::sleep(Duration::from_millis(100));
        let (t1, c1) = (Instant::now(), Self::ticks());
        Clock {
            ns_per_tick: (t1 - t0).as_nanos() as f64 / (c1 - c0) as f64,
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn calibrate() -> Clock {
        Clock {}
    }

    #[cfg(target_arch = "x86_64")]
    fn ticks() -> u64 {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[cfg(target_arch = "x86_64")]
    fn now(&self) -> u64 {
        Self::ticks()
    }

    #[cfg(target_arch = "x86_64")]
    fn nanos_since(&self, start: u64) -> u64 {
        (Self::ticks().saturating_sub(start) as f64 * self.ns_per_tick) as u64
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn nanos_since(&self, start: Instant) -> u64 {
        start.elapsed().as_nanos() as u64
    }
}
