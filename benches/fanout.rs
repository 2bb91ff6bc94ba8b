//! One main serving many renderers: a leader's `send_sync` round trip with 1,
//! 4, 16 and 64 renderers connected, while the others idle (parked, as an
//! application's background windows would be) or all call as fast as they
//! can. Then, for "all active", the calls per second main served in total.
//!
//! `cargo bench --bench fanout`. The bench binary is main. For each fleet
//! size it starts the missing members, tells them whether to call, and runs a
//! leader (this binary again) that runs criterion for that configuration and
//! exits; members are killed and reaped at the end, or die with main.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput};
use ringipc::{IpcMain, IpcRenderer, WebContents};
use std::hint::black_box;
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ROLE: &str = "RINGIPC_FANOUT_ROLE";
const FLEET: [usize; 4] = [1, 4, 16, 64];

fn main() -> ExitCode {
    match std::env::var(ROLE).as_deref() {
        Ok("member") => member(),
        Ok(leader) => {
            let (n, all) = leader.split_once(',').expect("leader role");
            run_leader(n.parse().expect("fleet size"), all == "all");
        }
        Err(_) => return run_main(),
    }
    ExitCode::SUCCESS
}

/// Kills and reaps the member processes however main leaves.
struct Members(Vec<(WebContents, Child)>);

impl Drop for Members {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run_main() -> ExitCode {
    let ipc = IpcMain::new().expect("start main");
    let served = Arc::new(AtomicU64::new(0));
    let s = served.clone();
    ipc.on("echo", move |event, arg| {
        s.fetch_add(1, Ordering::Relaxed);
        event.set_return_value(arg);
    })
    .expect("listen");
    let ready = Arc::new(AtomicU64::new(0));
    let r = ready.clone();
    ipc.on("ready", move |_, _| {
        r.fetch_add(1, Ordering::Release);
    })
    .expect("listen");
    ipc.on("served", move |event, _| {
        event.set_return_value(served.load(Ordering::Relaxed).to_le_bytes());
    })
    .expect("listen");

    let me = std::env::current_exe().expect("own path");
    let mut members = Members(Vec::new());
    for n in FLEET {
        while members.0.len() < n - 1 {
            let mut cmd = Command::new(&me);
            cmd.env(ROLE, "member");
            members.0.push(ipc.spawn(&mut cmd).expect("spawn member"));
        }
        // Measure only once every member is up and parked, not starting.
        while ready.load(Ordering::Acquire) < (n - 1) as u64 {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        for all in [false, true] {
            if all && n == 1 {
                continue;
            }
            for (wc, _) in &members.0 {
                wc.send("active", [all as u8]).expect("tell member");
            }
            let mut cmd = Command::new(&me);
            cmd.args(std::env::args_os().skip(1))
                .env(ROLE, format!("{n},{}", if all { "all" } else { "one" }));
            let (_leader, mut child) = ipc.spawn(&mut cmd).expect("spawn leader");
            if !child.wait().expect("wait for leader").success() {
                return ExitCode::FAILURE;
            }
        }
    }
    for (wc, _) in &members.0 {
        wc.send("active", [0]).expect("tell member");
    }
    report_idle_cpu(&members);
    ExitCode::SUCCESS
}

/// Prints the CPU time main and the members used over a few seconds in which
/// nobody sends anything: the cost of being connected.
fn report_idle_cpu(members: &Members) {
    const WINDOW: Duration = Duration::from_secs(3);
    let pids: Vec<u32> = members.0.iter().map(|(wc, _)| wc.process_id()).collect();
    // Past every spin budget first.
    std::thread::sleep(Duration::from_millis(200));
    let (main_before, members_before) = (cpu_ticks(std::process::id()), pids_ticks(&pids));
    std::thread::sleep(WINDOW);
    let (main_after, members_after) = (cpu_ticks(std::process::id()), pids_ticks(&pids));
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let percent = |ticks: u64| ticks as f64 / hz / WINDOW.as_secs_f64() * 100.0;
    println!(
        "idle, {} renderers connected, over {WINDOW:?}: main {:.2}% of one core, \
         all renderers together {:.2}%",
        pids.len(),
        percent(main_after - main_before),
        percent(members_after - members_before)
    );
}

fn pids_ticks(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| cpu_ticks(p)).sum()
}

/// User plus system time of process `pid` (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn run_leader(n: usize, all: bool) {
    let ipc = IpcRenderer::from_env().expect("connect");
    let mode = if all { "all_active" } else { "one_active" };
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group(format!("fanout_{mode}"));
    g.throughput(Throughput::Elements(1));
    let request = [0x5Au8; 16];
    let mut reply = Vec::with_capacity(64);
    g.bench_function(BenchmarkId::new("send_sync_16B", n), |b| {
        b.iter(|| {
            ipc.send_sync_into("echo", black_box(&request), &mut reply, None)
                .unwrap();
        })
    });
    g.finish();
    if all {
        let served = || {
            let v = ipc.send_sync("served", []).expect("served");
            u64::from_le_bytes(v.try_into().expect("u64"))
        };
        let (start, before) = (Instant::now(), served());
        std::thread::sleep(Duration::from_secs(1));
        let calls = served() - before;
        println!(
            "fanout_all_active/{n}: main served {:.0} calls/s in total",
            calls as f64 / start.elapsed().as_secs_f64()
        );
    }
}

/// A renderer that calls `echo` in a loop while main says it is active, and
/// otherwise sleeps (with no timer, so that the idle figure is ringipc's own);
/// it dies with main.
fn member() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let ipc = IpcRenderer::from_env().expect("connect");
    let active = Arc::new(AtomicBool::new(false));
    let (a, me) = (active.clone(), std::thread::current());
    ipc.on("active", move |_, arg| {
        a.store(arg == [1], Ordering::Release);
        me.unpark();
    })
    .expect("listen");
    ipc.send("ready", []).expect("ready");
    let mut reply = Vec::with_capacity(64);
    while ipc.is_connected() {
        if active.load(Ordering::Acquire) {
            if ipc
                .send_sync_into("echo", [1u8; 16], &mut reply, None)
                .is_err()
            {
                return;
            }
        } else {
            std::thread::park();
        }
    }
}
