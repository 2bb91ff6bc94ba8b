//! Renderers that press on main's memory and wake-ups, and a chaos run, each
//! beside renderers that must not notice.
//!
//! - memory: renderers half send large messages and stop; main holds no more
//!   than its budget, cuts them off (memory, or the half-sent deadline), and a
//!   bystander is served throughout;
//! - wake amplification: a renderer parks two thousand threads on its
//!   doorbell words; a bystander's round trips stay as fast as without;
//! - chaos: renderers calling and sending are SIGKILLed and SIGSTOPped at
//!   random while a checker proves the healthy ones lose and reorder nothing.

mod common;

use common::*;
use ringipc::{Config, IpcMain, IpcRenderer, WebContents};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        "bystander" => role_bystander(Duration::from_micros(200)),
        "timed_bystander" => role_timed_bystander(arg.parse().unwrap()),
        "big_sender" => role_big_sender(arg.parse().unwrap()),
        "parker" => role_parker(arg.parse().unwrap()),
        "sequenced" => role_sequenced(arg.parse().unwrap()),
        "sized_call" => role_sized_call(arg.parse().unwrap()),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn echo(ipc: &IpcMain) {
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .unwrap();
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: sends a signal to a child of ours by pid; no memory involved.
    unsafe { libc::kill(pid as i32, sig) };
}

// ---------------------------------------------------------------- memory

/// Sends one message of `len` bytes: main stops it half way.
fn role_big_sender(len: usize) {
    let ipc = IpcRenderer::from_env().unwrap();
    let _ = ipc.send("big", vec![0x5Au8; len]);
    // Main cut us off; stay until it kills us.
    std::thread::sleep(LIMIT);
}

#[test]
fn renderers_that_half_send_large_messages_cannot_take_main_s_memory() {
    let _serial = serial();
    const BUDGET: usize = 48 << 20;
    let config = Config::default()
        .memory_limit(BUDGET)
        .partial_message_timeout(Duration::from_secs(2));
    let ipc = IpcMain::with_config(config).unwrap();
    echo(&ipc);
    ipc.on("big", |_, _| panic!("no big message should arrive whole"))
        .unwrap();
    let start = footprint();
    let (bystander, mut bystander_child) = spawn(&ipc, ENTRY, "bystander", "");
    let served_before = bystander.stats().sync_calls;
    let mut attackers: Vec<(WebContents, ChildGuard, bool)> = (0..4)
        .map(|_| {
            let (wc, child) = spawn(&ipc, ENTRY, "big_sender", &(40usize << 20).to_string());
            (wc, child, false)
        })
        .collect();
    let (mut peak_held, mut peak_rss) = (0, 0);
    let deadline = Instant::now() + LIMIT;
    while attackers.iter().any(|(wc, _, _)| wc.is_connected()) {
        assert!(Instant::now() < deadline, "attackers still connected");
        for (wc, child, stopped) in &mut attackers {
            // Stop each one half way: it never sends the rest.
            if !*stopped && wc.stats().memory_held >= 8 << 20 {
                signal(child.pid(), libc::SIGSTOP);
                *stopped = true;
            }
        }
        peak_held = peak_held.max(ipc.memory_held());
        peak_rss = peak_rss.max(footprint().rss_kib);
        assert!(ipc.memory_held() <= BUDGET);
        std::thread::sleep(Duration::from_millis(1));
    }
    for (wc, child, _) in &mut attackers {
        let reason = wc.disconnect_reason().unwrap();
        eprintln!("attacker {}: {reason}", wc.id());
        assert!(
            reason.contains("memory") || reason.contains("half sent"),
            "{reason}"
        );
        child.kill();
    }
    let growth_mib = peak_rss.saturating_sub(start.rss_kib) / 1024;
    eprintln!(
        "peak held {} MiB of a {} MiB budget; main's RSS grew {growth_mib} MiB at most",
        peak_held >> 20,
        BUDGET >> 20
    );
    assert!(growth_mib <= (BUDGET >> 20) as u64 + 32, "{growth_mib} MiB");
    eventually(LIMIT, "everything given back", || ipc.memory_held() == 0);
    assert!(bystander.is_connected());
    assert!(bystander.stats().sync_calls > served_before + 100);
    bystander.send("stop", b"").unwrap();
    bystander_child.assert_success(LIMIT);
}

/// One sync call carrying `len` bytes, then stays until main is done.
fn role_sized_call(len: usize) {
    let ipc = IpcRenderer::from_env().unwrap();
    assert_eq!(ipc.send_sync("sized", vec![0x3Cu8; len]).unwrap(), b"ok");
    std::thread::sleep(LIMIT);
}

#[test]
fn a_big_message_s_warm_buffer_is_charged_to_its_sender_and_let_go_when_idle() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    ipc.on("sized", |event, _| {
        event.set_return_value("ok");
    })
    .unwrap();
    // A sends a big message: main keeps its buffer for A's next one, on
    // A's account.
    let (a, mut a_child) = spawn(&ipc, ENTRY, "sized_call", &(8usize << 20).to_string());
    eventually(LIMIT, "A's call answered", || a.stats().sync_calls == 1);
    // The call is counted before its listener runs, and the buffer kept
    // after: a moment later.
    eventually(LIMIT, "A's buffer kept warm on its account", || {
        a.stats().memory_held >= 8 << 20
    });
    // B's fragmented message does not start in A's buffer, nor get charged
    // for it.
    let (b, mut b_child) = spawn(&ipc, ENTRY, "sized_call", &(600usize << 10).to_string());
    eventually(LIMIT, "B's call answered", || b.stats().sync_calls == 1);
    assert!(b.stats().memory_held < 2 << 20, "{:?}", b.stats());
    // Idle for a while: the warm buffer goes.
    eventually(LIMIT, "A's buffer let go", || a.stats().memory_held == 0);
    eventually(LIMIT, "everything given back", || ipc.memory_held() == 0);
    a_child.kill();
    b_child.kill();
}

// ------------------------------------------------------- wake amplification

/// Round trips of 16 bytes after a warm-up; prints the p99 in nanoseconds.
fn role_timed_bystander(calls: usize) {
    let ipc = IpcRenderer::from_env().unwrap();
    let request = [7u8; 16];
    for _ in 0..calls / 10 {
        ipc.send_sync("echo", request).unwrap();
    }
    let mut took: Vec<u64> = (0..calls)
        .map(|_| {
            let t = Instant::now();
            ipc.send_sync("echo", request).unwrap();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    took.sort_unstable();
    println!("P99 {}", took[calls * 99 / 100]);
}

// The segment as `wire/layout.rs` lays it out for the default 256 KiB rings:
// the request control block at 128, its `space` doorbell word at +256; in a
// doorbell word, `seq` at +0 and `sleepers` at +4.
const REQUEST_SPACE: usize = 128 + 256;

/// Threads of the parker woken so far (each counts itself as it parks).
static PARKED: AtomicU64 = AtomicU64::new(0);

/// Parks `threads` threads on its request.space doorbell word with the
/// sleeper flag raised, then sends messages: main notifies that doorbell
/// after every batch it takes from the ring.
fn role_parker(threads: usize) {
    let ipc = IpcRenderer::from_env().unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps.lines().find(|l| l.contains("memfd:ringipc")).unwrap();
    let start = usize::from_str_radix(line.split('-').next().unwrap(), 16).unwrap();
    let seq = (start + REQUEST_SPACE) as *const std::sync::atomic::AtomicU32;
    // SAFETY: an aligned word in our own mapping of the segment.
    let sleepers = unsafe { &*seq.add(1) };
    sleepers.store(1, Ordering::Relaxed);
    let seq = seq as usize;
    {
        for _ in 0..threads {
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    loop {
                        let seq = seq as *const std::sync::atomic::AtomicU32;
                        // SAFETY: as above.
                        let value = unsafe { &*seq }.load(Ordering::Relaxed);
                        PARKED.fetch_add(1, Ordering::Relaxed);
                        // SAFETY: FUTEX_WAIT on an aligned word of our mapping.
                        unsafe {
                            libc::syscall(
                                libc::SYS_futex,
                                seq,
                                libc::FUTEX_WAIT,
                                value,
                                std::ptr::null::<libc::timespec>(),
                            )
                        };
                    }
                })
                .unwrap();
        }
    }
    while PARKED.load(Ordering::Relaxed) < threads as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("PARKED");
    let mut last = Instant::now();
    loop {
        ipc.send("noise", b"n").unwrap();
        std::thread::sleep(Duration::from_micros(50));
        if last.elapsed() > Duration::from_millis(100) {
            // Main's wakes, as its parked threads counted them.
            println!("WOKEN {}", PARKED.load(Ordering::Relaxed) - threads as u64);
            last = Instant::now();
        }
    }
}

fn bystander_p99(ipc: &IpcMain) -> u64 {
    let mut cmd = role_command(ENTRY, "timed_bystander", "20000");
    cmd.stdout(std::process::Stdio::piped());
    let (_wc, child) = ipc.spawn(&mut cmd).unwrap();
    let mut child = ChildGuard(Some(child));
    let out = lines(&mut child);
    let p99 = line_with(&out, LIMIT, "P99 ").parse().unwrap();
    child.assert_success(LIMIT);
    p99
}

/// A bystander's p99 beside a parker with `threads` parked threads, and
/// how often the parker's threads were woken meanwhile.
fn p99_beside_parker(ipc: &IpcMain, threads: usize) -> (u64, u64) {
    let mut cmd = role_command(ENTRY, "parker", &threads.to_string());
    cmd.stdout(std::process::Stdio::piped());
    let (attacker, child) = ipc.spawn(&mut cmd).unwrap();
    let mut child = ChildGuard(Some(child));
    let out = lines(&mut child);
    line_with(&out, LIMIT, "PARKED");
    let woken = |out: &std::sync::mpsc::Receiver<String>| -> u64 {
        line_with(out, LIMIT, "WOKEN ").parse().unwrap()
    };
    let before = woken(&out);
    let p99 = bystander_p99(ipc);
    let wakes = woken(&out) - before;
    assert!(attacker.is_connected());
    child.kill();
    (p99, wakes)
}

#[test]
fn thousands_of_parked_attacker_threads_do_not_slow_a_bystander() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    echo(&ipc);
    ipc.on("noise", |_, _| {}).unwrap();
    // The same attacker traffic with none parked, then with two thousand.
    let (none, _) = p99_beside_parker(&ipc, 0);
    let (many, wakes) = p99_beside_parker(&ipc, 2000);
    eprintln!(
        "bystander p99: {none} ns beside the attacker with no thread parked, \
         {many} ns with 2000 parked ({wakes} of them woken meanwhile)"
    );
    // 50 µs of slack: a scheduler hiccup on this noisy 2-vCPU machine (runs
    // here: 56-135 µs beside none parked, 47-91 µs beside 2000). Waking them
    // all costs main milliseconds whenever the herd is parked.
    assert!(many <= 2 * none + 50_000, "{many} ns vs {none} ns");
}

// ------------------------------------------------------------------ chaos

/// Sends `n` sequenced messages and calls, then says how many.
fn role_sequenced(n: u64) {
    let ipc = IpcRenderer::from_env().unwrap();
    for seq in 0..n {
        let payload = pattern(seq, 8 + (seq % 300) as usize);
        match seq % 4 {
            0 => assert_eq!(ipc.send_sync("call", &payload).unwrap(), payload),
            1 => assert_eq!(
                ipc.invoke("invoke", &payload).unwrap().wait().unwrap(),
                payload
            ),
            _ => ipc.send("seq", &payload).unwrap(),
        }
    }
    ipc.send_sync("finished", n.to_le_bytes()).unwrap();
}

/// Main's checker: every renderer's records must arrive in the order sent,
/// none missing; returns the failures seen.
#[derive(Default)]
struct Checker {
    next: Mutex<HashMap<u32, u64>>,
    failures: Mutex<Vec<String>>,
}

impl Checker {
    fn check(&self, from: u32, payload: &[u8]) {
        let mut next = self.next.lock().unwrap();
        let expected = next.entry(from).or_insert(0);
        match check_pattern(payload) {
            Ok(seq) if seq == *expected => *expected += 1,
            Ok(seq) => self.fail(format!("renderer {from}: got {seq}, expected {expected}")),
            Err(e) => self.fail(format!("renderer {from}: {e}")),
        }
    }

    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

#[test]
fn chaos_kills_and_stops_cost_the_healthy_renderers_nothing() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    let checker = Arc::new(Checker::default());
    let finished = Arc::new(AtomicU64::new(0));
    let c = checker.clone();
    ipc.on("seq", move |event, arg| c.check(event.sender().id(), arg))
        .unwrap();
    let c = checker.clone();
    ipc.on("call", move |event, arg| {
        c.check(event.sender().id(), arg);
        event.set_return_value(arg);
    })
    .unwrap();
    let c = checker.clone();
    ipc.handle("invoke", move |event, arg| -> Result<Vec<u8>, String> {
        c.check(event.sender().id(), arg);
        Ok(arg.to_vec())
    })
    .unwrap();
    let (c, f) = (checker.clone(), finished.clone());
    ipc.on("finished", move |event, arg| {
        let n = u64::from_le_bytes(arg.try_into().unwrap());
        let id = event.sender().id();
        let got = c.next.lock().unwrap().get(&id).copied().unwrap_or(0);
        if got != n {
            c.fail(format!("renderer {id}: {got} records of {n} arrived"));
        }
        f.fetch_add(1, Ordering::Relaxed);
        event.set_return_value(b"");
    })
    .unwrap();
    const HEALTHY: usize = 3;
    let mut healthy: Vec<_> = (0..HEALTHY)
        .map(|_| spawn(&ipc, ENTRY, "sequenced", "20000"))
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut victims: Vec<(WebContents, ChildGuard)> = Vec::new();
    let mut stopped = Vec::new();
    let end = Instant::now() + Duration::from_secs(4);
    let (mut killed, mut paused) = (0, 0);
    while Instant::now() < end && finished.load(Ordering::Relaxed) < HEALTHY as u64 {
        if victims.len() < 4 {
            victims.push(spawn(&ipc, ENTRY, "sequenced", "1000000"));
        }
        std::thread::sleep(Duration::from_millis(rng.next() % 20));
        let i = (rng.next() % victims.len() as u64) as usize;
        if rng.next() % 3 == 0 {
            signal(victims[i].1.pid(), libc::SIGSTOP);
            stopped.push(victims.swap_remove(i));
            paused += 1;
        } else {
            victims.swap_remove(i).1.kill();
            killed += 1;
        }
    }
    for (_, child) in &mut healthy {
        child.assert_success(LIMIT);
    }
    eprintln!("{killed} renderers killed and {paused} stopped beside {HEALTHY} healthy ones");
    for (wc, mut child) in victims.into_iter().chain(stopped) {
        child.kill();
        eventually(LIMIT, "main to drop a dead renderer", || !wc.is_connected());
    }
    let failures = checker.failures.lock().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(finished.load(Ordering::Relaxed), HEALTHY as u64);
    for (wc, _) in &healthy {
        let next = checker.next.lock().unwrap()[&wc.id()];
        assert_eq!(next, 20000);
    }
}
