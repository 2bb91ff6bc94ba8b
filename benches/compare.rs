//! ringipc beside the alternatives, in one process tree and one run.
//!
//! `cargo bench --bench compare` prints one table: round-trip percentiles (HDR
//! histogram) for a raw shared-memory spin ping-pong (the physical floor),
//! the same through two raw rings laid out as ringipc's (the floor of its
//! layout, with no software), ringipc `send_sync` with both sides awake, a Unix socket and a pipe, each
//! measured in interleaved blocks so that they share the machine's moods; the
//! spin floor and ringipc again timed with `Instant` instead of the TSC; then
//! the cold path (both sides asleep) of ringipc and the socket, on a quiet
//! machine and with one and both CPUs running a busy loop; one-way message
//! rates; and main's drivers (`hosted/`).
//!
//! The bench binary is main; it re-executes itself as the renderer, which runs
//! the measurements and forks the peers' echo processes. Every child dies with
//! its parent (`PR_SET_PDEATHSIG`) and is reaped on the way out.
//!
//! With `--features peers`, `ipc-channel` and `iceoryx2` (request-response
//! busy-polling, and blocking on its event service) join the table. Their
//! servers busy-poll, which would steal a core from every other transport's
//! blocks on a 2-core machine, so each peer is measured in a phase of its own
//! after the interleaved ones. iceoryx2 runs in a private domain that is
//! removed at the end, so nothing is left in `/dev/shm` or the temp directory.

mod common;
mod hosted;
#[cfg(feature = "peers")]
mod peers;

use common::{BlastCounter, BusyLoop, SpinPingPong, SpinRingPingPong, fork_child, reap};
use hdrhistogram::Histogram;
use ringipc::IpcRenderer;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
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
    if let Ok(role) = std::env::var(hosted::ROLE) {
        hosted::renderer(&role);
        return ExitCode::SUCCESS;
    }
    let code = common::main_then_renderer(
        ROLE,
        |ipc| {
            common::serve_counting(ipc);
            common::serve_blasts(ipc);
        },
        renderer,
    );
    if std::env::var_os(ROLE).is_none() {
        // Main's side, once the renderer's table is out.
        hosted::run_all();
    }
    code
}

impl RoundTrip for SpinPingPong {
    fn name(&self) -> &'static str {
        "raw spin ping-pong (floor)"
    }

    fn round_trip(&mut self) {
        SpinPingPong::round_trip(self);
    }
}

impl RoundTrip for SpinRingPingPong {
    fn name(&self) -> &'static str {
        "raw spin, two rings (layout floor)"
    }

    fn round_trip(&mut self) {
        SpinRingPingPong::round_trip(self);
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
        Box::new(SpinRingPingPong::start()),
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
    // The floor and ringipc again, timed with `Instant` around each round
    // trip, as a program written against std alone would time them: the OS
    // clock's reads (tens of ns each on a VM, against a few for the TSC)
    // then sit on both critical paths, which narrows the ratio.
    let mut with_instant = [histogram(), histogram()];
    for _ in 0..ROUNDS {
        for (i, h) in [0, 2].into_iter().zip(&mut with_instant) {
            let t = &mut transports[i];
            for _ in 0..SAMPLES / 10 {
                t.round_trip();
            }
            for _ in 0..SAMPLES {
                let start = Instant::now();
                t.round_trip();
                h.saturating_record(start.elapsed().as_nanos() as u64);
            }
        }
    }

    // The peers' processes go before the cold phase: a floor child polling in
    // the background would wake the very cores the cold calls find asleep.
    let mut names: Vec<&str> = transports.iter().map(|t| t.name()).collect();
    drop(transports);
    for (name, h) in peer_round_trips(&clock) {
        names.push(name);
        hot.push(h);
    }

    // Cold calls on an idle machine, then while one and then both CPUs run
    // another process's busy loop: whoever wakes then competes for a CPU.
    let cold: Vec<(usize, Histogram<u64>, Histogram<u64>)> = (0..=2)
        .map(|busy| {
            let _loops: Vec<BusyLoop> = (0..busy).map(|_| BusyLoop::start()).collect();
            let (ringipc, socket) = cold_round_trips(&ipc, &clock);
            (busy, ringipc, socket)
        })
        .collect();

    let blasts = BlastCounter::install(&ipc);
    let mut rates = vec![
        ("raw spin ring (floor)", spin_ring_messages_per_second()),
        (
            "ringipc send, renderer -> main",
            per_second(
                MESSAGES,
                common::send_counted(&ipc, MESSAGES, &[7; MESSAGE_LEN]),
            ),
        ),
        (
            "ringipc send, main -> renderer",
            per_second(MESSAGES, blasts.blast(&ipc, MESSAGES, MESSAGE_LEN)),
        ),
        ("Unix socket (std)", socket_messages_per_second()),
    ];
    rates.extend(peer_rates());

    println!();
    println!(
        "round trips, 16-byte request and reply; {ROUNDS} interleaved blocks of {SAMPLES} per transport"
    );
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "transport", "p50 ns", "p99 ns", "p99.9 ns", "calls/s", "p50/floor", "p99/floor"
    );
    let floor = &hot[0];
    for (name, h) in names.iter().zip(&hot) {
        row(name, h, floor);
    }
    for (busy, ringipc, socket) in &cold {
        let load = match busy {
            0 => String::new(),
            1 => ", 1 CPU busy".to_owned(),
            n => format!(", {n} CPUs busy"),
        };
        row(&format!("ringipc send_sync, cold{load}"), ringipc, floor);
        row(&format!("Unix socket, cold{load}"), socket, floor);
    }
    println!(
        "timer overhead (included above): p50 {} ns",
        timer.value_at_quantile(0.5)
    );
    let p50 = |h: &Histogram<u64>| h.value_at_quantile(0.5) as f64;
    let [floor_instant, ringipc_instant] = &with_instant;
    println!(
        "timed with Instant instead: raw spin floor p50 {} ns, ringipc send_sync, hot p50 {} ns: {:.2}x",
        p50(floor_instant),
        p50(ringipc_instant),
        p50(ringipc_instant) / p50(floor_instant).max(1.0)
    );
    // What ringipc's software costs on top of its own layout's floor.
    println!(
        "ringipc send_sync, hot p50 / layout floor p50: {:.2}x",
        p50(&hot[2]) / p50(&hot[1]).max(1.0)
    );
    println!();
    println!("one-way messages of {MESSAGE_LEN} bytes into a counting receiver");
    println!(
        "{:<42} {:>14} {:>10}",
        "transport", "messages/s", "vs floor"
    );
    let floor = rates[0].1;
    for (name, rate) in rates {
        println!("{name:<42} {rate:>14.0} {:>9.2}x", rate / floor);
    }
}

/// [`COLD_SAMPLES`] cold round trips each of ringipc and a Unix socket,
/// taking turns, each after [`COLD_GAP`] asleep.
fn cold_round_trips(ipc: &IpcRenderer, clock: &Clock) -> (Histogram<u64>, Histogram<u64>) {
    let (mut cold_ringipc, mut cold_socket) = (histogram(), histogram());
    let mut socket = StreamEcho::unix_socket();
    let mut ringipc = Ringipc {
        ipc,
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
    (cold_ringipc, cold_socket)
}

/// One-way messages through the least a shared-memory ring can do: fixed
/// 64-byte slots, one producer index and one consumer index on their own
/// lines, no validation, no wake-ups; the consumer copies each message out.
fn spin_ring_messages_per_second() -> f64 {
    const SLOTS: u64 = 1024;
    const LINE: usize = 128;
    let len = 2 * LINE + SLOTS as usize * MESSAGE_LEN;
    let base = common::map_shared(len);
    let addr = base as usize;
    // SAFETY: the mapping stays until the munmap below, which runs after the
    // child was reaped; each index is an AtomicU64 on a line of its own.
    let index = move |line: usize| unsafe { &*((addr + line * LINE) as *const AtomicU64) };
    let slot = move |i: u64| (addr + 2 * LINE + (i % SLOTS) as usize * MESSAGE_LEN) as *mut u8;
    let (written, read) = (index(0), index(1));
    let child = fork_child(move || {
        let mut buf = [0u8; MESSAGE_LEN];
        for i in 0..MESSAGES {
            while written.load(Ordering::Acquire) == i {
                std::hint::spin_loop();
            }
            // SAFETY: the slot was published by the Acquire above.
            unsafe { std::ptr::copy_nonoverlapping(slot(i), buf.as_mut_ptr(), MESSAGE_LEN) };
            std::hint::black_box(&buf);
            read.store(i + 1, Ordering::Release);
        }
    });
    let msg = [7u8; MESSAGE_LEN];
    let start = Instant::now();
    for i in 0..MESSAGES {
        while i - read.load(Ordering::Acquire) >= SLOTS {
            std::hint::spin_loop();
        }
        // SAFETY: the consumer released the slot (Acquire above).
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), slot(i), MESSAGE_LEN) };
        written.store(i + 1, Ordering::Release);
    }
    while read.load(Ordering::Acquire) != MESSAGES {
        std::hint::spin_loop();
    }
    let elapsed = start.elapsed();
    reap(child);
    // SAFETY: unmapping our own mapping; the child is gone.
    unsafe { libc::munmap(base, len) };
    per_second(MESSAGES, elapsed)
}

fn per_second(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// Round trips over the peers that need other crates, one peer at a time.
#[cfg(feature = "peers")]
fn peer_round_trips(clock: &Clock) -> Vec<(&'static str, Histogram<u64>)> {
    type Start = fn() -> Result<Box<dyn RoundTrip>, peers::BoxError>;
    let starts: [Start; 3] = [
        || Ok(Box::new(peers::IpcChannelEcho::start()?)),
        || Ok(Box::new(peers::IceoryxRequestResponse::start(false)?)),
        || Ok(Box::new(peers::IceoryxRequestResponse::start(true)?)),
    ];
    let mut out = Vec::new();
    for start in starts {
        let mut peer = start().expect("start peer");
        let mut h = histogram();
        for _ in 0..SAMPLES / 10 {
            peer.round_trip();
        }
        for _ in 0..ROUNDS * SAMPLES {
            let t = clock.now();
            peer.round_trip();
            h.saturating_record(clock.nanos_since(t));
        }
        out.push((peer.name(), h));
    }
    out
}

#[cfg(not(feature = "peers"))]
fn peer_round_trips(_: &Clock) -> Vec<(&'static str, Histogram<u64>)> {
    Vec::new()
}

/// Messages from the peers that need other crates, then the removal of
/// everything iceoryx2 left on disk.
#[cfg(feature = "peers")]
fn peer_rates() -> Vec<(&'static str, f64)> {
    // ipc-channel manages about a third of a million a second: fewer messages.
    let rates = vec![
        (
            "ipc-channel 0.23",
            peers::ipc_channel_messages_per_second(MESSAGES / 4),
        ),
        (
            "iceoryx2 0.10 publish-subscribe, busy-poll",
            peers::iceoryx2_messages_per_second(MESSAGES),
        ),
    ];
    peers::remove_iceoryx2_domain().expect("remove iceoryx2's files");
    rates
}

#[cfg(not(feature = "peers"))]
fn peer_rates() -> Vec<(&'static str, f64)> {
    Vec::new()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

fn row(name: &str, h: &Histogram<u64>, floor: &Histogram<u64>) {
    let ratio = |q: f64| h.value_at_quantile(q) as f64 / floor.value_at_quantile(q).max(1) as f64;
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>10.0} {:>9.2}x {:>9.2}x",
        name,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        1e9 / h.mean(),
        ratio(0.5),
        ratio(0.99),
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
