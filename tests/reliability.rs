//! What a renderer cannot do to main, and races that must end: the cases of
//! the second reliability issue, each tried the way a user would meet it.
//!
//! - log forging and log volume through `send_to` with a hostile channel name;
//! - a renderer that only kicks its lifeline;
//! - a renderer whose own child keeps its lifeline open after it was killed;
//! - `Duration::MAX` as a timeout everywhere;
//! - `shutdown` racing `spawn` (threaded and hosted main);
//! - signals interrupting a pumped renderer's waits, and `send` after main went;
//! - a spawned process that never connects;
//! - descriptors a renderer holds not leaking into the processes it starts.

mod common;

use common::*;
use ringipc::{Config, Error, IpcMain, IpcRenderer};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);
/// The channel a hostile renderer names: a fake log line and a terminal
/// escape that clears the screen.
const FORGED: &str = "x\n[ERROR] forged\x1b[2J";
const FLOOD: u64 = 200_000;

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        "send_to_flood" => role_send_to_flood(),
        "kicker" => role_kicker(arg.parse().unwrap()),
        "forker" => role_forker(),
        "max_timeouts" => role_max_timeouts(),
        "pumped_max" => role_pumped_max(),
        "call_until_disconnected" => role_call_until_disconnected(),
        "interrupted" => role_interrupted(),
        "no_leaks" => role_no_leaks(),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

// ------------------------------------------------------------ a log counter

/// Every record logged in this process while a test counts them.
struct Counting {
    on: AtomicBool,
    records: Mutex<Vec<String>>,
}

impl log::Log for Counting {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.on.load(Ordering::Relaxed) {
            let line = format!("{} {}", record.level(), record.args());
            self.records.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

fn logger() -> &'static Counting {
    static LOGGER: OnceLock<&'static Counting> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let logger: &'static Counting = Box::leak(Box::new(Counting {
            on: AtomicBool::new(false),
            records: Mutex::new(Vec::new()),
        }));
        log::set_logger(logger).expect("the only logger");
        log::set_max_level(log::LevelFilter::Trace);
        logger
    })
}

// ------------------------------------------------------ log forging, volume

fn role_send_to_flood() {
    let ipc = IpcRenderer::from_env().unwrap();
    for _ in 0..FLOOD {
        ipc.send_to(9999, FORGED, b"x").unwrap();
    }
    ipc.send_sync("done", b"").unwrap();
}

#[test]
fn a_send_to_flood_with_a_forged_channel_cannot_flood_or_forge_the_log() {
    let _serial = serial();
    let logger = logger();
    logger.records.lock().unwrap().clear();
    logger.on.store(true, Ordering::Relaxed);
    let ipc = IpcMain::new().unwrap();
    ipc.on("done", |event, _| {
        event.set_return_value(b"");
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "send_to_flood", "");
    child.assert_success(LIMIT);
    eventually(LIMIT, "every refusal counted", || {
        wc.stats().forwards_refused == FLOOD
    });
    drop(ipc);
    logger.on.store(false, Ordering::Relaxed);
    let records = std::mem::take(&mut *logger.records.lock().unwrap());
    eprintln!(
        "{} records for {FLOOD} refusals, e.g. {:?}",
        records.len(),
        records.first()
    );
    assert!(records.len() <= 20, "{} log records", records.len());
    for r in &records {
        assert!(
            !r.contains('\n') && !r.contains('\x1b'),
            "raw text logged: {r:?}"
        );
    }
    assert!(
        records.iter().any(|r| r.contains("suppressed")),
        "the suppressed lines are summarised: {records:?}"
    );
}

// ----------------------------------------------------------- a kick storm

/// Main's own CPU time (user + system) so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` is a valid out-pointer for one rusage.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) },
        0
    );
    // SAFETY: getrusage succeeded and filled it.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The lifeline descriptor named in this renderer's invitation.
fn inherited_fds() -> (i32, i32) {
    let inv = std::env::var("RINGIPC_RENDERER").unwrap();
    let parts: Vec<&str> = inv.split(':').collect();
    (parts[1].parse().unwrap(), parts[4].parse().unwrap())
}

fn role_kicker(seconds: u64) {
    let (_, lifeline) = inherited_fds();
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send_sync("ready", b"").unwrap();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        // SAFETY: writes one byte from a local to a descriptor we hold.
        unsafe { libc::send(lifeline, b"k".as_ptr().cast(), 1, libc::MSG_DONTWAIT) };
        std::thread::sleep(Duration::from_micros(20));
    }
}

#[test]
fn a_renderer_that_only_kicks_costs_main_little_cpu() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    ipc.on("ready", move |event, _| {
        event.set_return_value(b"");
        let _ = tx.lock().unwrap().send(());
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "kicker", "3");
    rx.recv_timeout(LIMIT).unwrap();
    let (cpu, wall) = (cpu_time(), Instant::now());
    child.assert_success(LIMIT);
    let share = (cpu_time() - cpu).as_secs_f64() / wall.elapsed().as_secs_f64();
    eprintln!(
        "main used {:.1}% of a core while the renderer kicked",
        share * 100.0
    );
    // Main sees the exit on its own thread, a moment after `wait` returns
    // here (CI once looked too soon).
    eventually(LIMIT, "main to see the renderer exit", || {
        wc.disconnect_reason().is_some_and(|r| r.contains("exited"))
    });
    // Was 56% before kicks without work were muted; a few percent now.
    assert!(share < 0.20, "main used {:.1}% of a core", share * 100.0);
}

// --------------------------------- death seen whatever the renderer's children hold

/// Kills a process that is not our child (the renderer's own child, which
/// outlives it), pass or fail; init or a subreaper reaps it.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: sends a signal to a pid; no memory is involved.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

// Never reaped here: this renderer is killed while its child lives on, and
// the test kills the child (which init then reaps).
#[allow(clippy::zombie_processes)]
fn role_forker() {
    // A child started before `from_env` inherits the segment and lifeline.
    let grandchild = Command::new("sleep").arg("60").spawn().unwrap();
    let ipc = IpcRenderer::from_env().unwrap();
    ipc.send_sync("grandchild", grandchild.id().to_string())
        .unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_killed_renderer_is_seen_dead_though_its_child_holds_the_lifeline() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    let grandchild = Arc::new(AtomicU64::new(0));
    let g = grandchild.clone();
    ipc.on("grandchild", move |event, arg| {
        g.store(
            String::from_utf8_lossy(arg).parse().unwrap(),
            Ordering::Relaxed,
        );
        event.set_return_value(b"");
    })
    .unwrap();
    let (wc, mut child) = spawn(&ipc, ENTRY, "forker", "");
    eventually(LIMIT, "the renderer to report its child", || {
        grandchild.load(Ordering::Relaxed) != 0
    });
    let _grandchild = KillOnDrop(grandchild.load(Ordering::Relaxed) as i32);
    let killed = Instant::now();
    child.kill();
    eventually(
        Duration::from_secs(3),
        "main to see the renderer die",
        || !wc.is_connected(),
    );
    eprintln!(
        "death seen after {:?}: {:?}",
        killed.elapsed(),
        wc.disconnect_reason()
    );
    assert!(wc.disconnect_reason().unwrap().contains("exited"));
}

// ---------------------------------------------------- Duration::MAX is "never"

fn role_max_timeouts() {
    let ipc = IpcRenderer::from_env().unwrap();
    let max = Duration::MAX;
    assert_eq!(ipc.send_sync_timeout("echo", b"a", max).unwrap(), b"a");
    ipc.send_timeout("note", b"b", max).unwrap();
    assert_eq!(
        ipc.invoke("twice", b"c")
            .unwrap()
            .wait_timeout(max)
            .unwrap(),
        b"cc"
    );
    let mut out = Vec::new();
    ipc.send_sync_into("echo", b"d", &mut out, Some(max))
        .unwrap();
    assert_eq!(out, b"d");
    ipc.send_sync("done", b"").unwrap();
}

fn role_pumped_max() {
    let ipc = IpcRenderer::from_env_without_receiver().unwrap();
    ipc.send("send-me-one", b"").unwrap();
    let m = ipc.recv_timeout(Duration::MAX).unwrap().unwrap();
    assert_eq!(
        (m.channel.as_str(), m.payload.as_slice()),
        ("one", &b"1"[..])
    );
    ipc.send_sync("done", b"").unwrap();
}

#[test]
fn duration_max_means_no_deadline_everywhere() {
    let _serial = serial();
    let ipc = IpcMain::with_config(Config::default().dispatcher_thread(false)).unwrap();
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .unwrap();
    ipc.on("note", |_, _| {}).unwrap();
    ipc.handle("twice", |_, arg| -> Result<Vec<u8>, String> {
        Ok([arg, arg].concat())
    })
    .unwrap();
    ipc.on("send-me-one", |event, _| {
        event.reply("one", b"1").unwrap();
    })
    .unwrap();
    ipc.on("done", |event, _| {
        event.set_return_value(b"");
    })
    .unwrap();
    let (_a, mut a) = spawn(&ipc, ENTRY, "max_timeouts", "");
    let (_b, mut b) = spawn(&ipc, ENTRY, "pumped_max", "");
    // A dispatch with no deadline returns once main shuts down.
    let dispatching = std::thread::spawn({
        let ipc = ipc.clone();
        move || ipc.dispatch(Duration::MAX)
    });
    a.assert_success(LIMIT);
    b.assert_success(LIMIT);
    ipc.shutdown();
    let handled = dispatching.join().unwrap().unwrap();
    assert!(handled >= 7, "{handled}");
}

// --------------------------------------------------- shutdown racing spawn

fn role_call_until_disconnected() {
    let ipc = match IpcRenderer::from_env() {
        Ok(ipc) => ipc,
        // Main shut down before we connected.
        Err(Error::NotARenderer(_)) => return,
        Err(e) => panic!("{e}"),
    };
    loop {
        match ipc.send_sync("ping", b"p") {
            Ok(_) => {}
            Err(Error::Disconnected) => return,
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

fn shutdown_racing_spawn(hosted: bool) {
    let _serial = serial();
    for round in 0..20 {
        let config = Config::default().dispatcher_thread(!hosted);
        let ipc = IpcMain::with_config(config).unwrap();
        ipc.on("ping", |event, _| {
            event.set_return_value(b"p");
        })
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let host = hosted.then(|| {
            let (ipc, stop) = (ipc.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if ipc.dispatch(Duration::from_millis(5)).is_err() {
                        break;
                    }
                }
            })
        });
        let spawner = {
            let ipc = ipc.clone();
            std::thread::spawn(move || {
                let mut children = Vec::new();
                for _ in 0..6 {
                    let mut cmd = role_command(ENTRY, "call_until_disconnected", "");
                    match ipc.spawn(&mut cmd) {
                        Ok((_, child)) => children.push(ChildGuard(Some(child))),
                        Err(Error::Disconnected) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                children
            })
        };
        std::thread::sleep(Duration::from_millis(round % 7));
        ipc.shutdown();
        let mut children = spawner.join().unwrap();
        for c in &mut children {
            // Each one whose spawn returned Ok must learn that main is gone.
            c.assert_success(Duration::from_secs(3));
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = host {
            h.join().unwrap();
        }
    }
}

#[test]
fn shutdown_racing_spawn_ends_every_renderer_threaded() {
    shutdown_racing_spawn(false);
}

#[test]
fn shutdown_racing_spawn_ends_every_renderer_hosted() {
    shutdown_racing_spawn(true);
}

// ------------------------------------------- signals, and a send after main went

extern "C" fn ignore(_: libc::c_int) {}

/// A pumped renderer whose every wait is cut short by a signal every 2 ms.
fn role_interrupted() {
    // SAFETY: installs a handler that does nothing, without SA_RESTART, so
    // blocking calls return EINTR; and a 2 ms interval timer.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
        assert_eq!(
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()),
            0
        );
        let every = libc::timeval {
            tv_sec: 0,
            tv_usec: 2000,
        };
        let timer = libc::itimerval {
            it_interval: every,
            it_value: every,
        };
        assert_eq!(
            libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()),
            0
        );
    }
    let ipc = IpcRenderer::from_env_without_receiver().unwrap();
    // Main takes the responder and never answers, then shuts down.
    match ipc.send_sync("hang", b"") {
        Err(Error::Disconnected) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Main is gone: sends fail soon, though the ring has room.
    let mut sent = 0;
    loop {
        match ipc.send("after", b"x") {
            Ok(()) => sent += 1,
            Err(Error::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 1000, "send kept succeeding after main went");
    }
    println!("RESULT ok after {sent} sends");
}

#[test]
fn signals_do_not_keep_a_pumped_renderer_from_seeing_main_go() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    ipc.on("hang", move |event, _| {
        h.lock().unwrap().push(event.take_responder().unwrap());
    })
    .unwrap();
    let mut cmd = role_command(ENTRY, "interrupted", "");
    cmd.stdout(std::process::Stdio::piped());
    let (_wc, child) = ipc.spawn(&mut cmd).unwrap();
    let mut child = ChildGuard(Some(child));
    let out = lines(&mut child);
    eventually(LIMIT, "the call to be held", || {
        !held.lock().unwrap().is_empty()
    });
    // Keep the responder alive (no answer), and let main go.
    let responders = std::mem::take(&mut *held.lock().unwrap());
    ipc.shutdown();
    let result = line_with(&out, Duration::from_secs(5), "RESULT ");
    assert!(result.starts_with("ok"), "{result}");
    child.assert_success(Duration::from_secs(5));
    drop(responders);
}

// ------------------------------------------- a process that never connects

#[test]
fn a_spawned_process_that_never_connects_is_cut_off() {
    let _serial = serial();
    let config = Config::default().connect_timeout(Duration::from_millis(300));
    let ipc = IpcMain::with_config(config).unwrap();
    let (wc, child) = ipc.spawn(Command::new("sleep").arg("30")).unwrap();
    let _child = ChildGuard(Some(child));
    eventually(
        Duration::from_secs(5),
        "the silent process to be cut off",
        || !wc.is_connected(),
    );
    let reason = wc.disconnect_reason().unwrap();
    assert!(reason.contains("did not connect"), "{reason}");
}

// ------------------------------------------------ nothing leaks across exec

fn role_no_leaks() {
    let (segment, lifeline) = inherited_fds();
    let ipc = IpcRenderer::from_env().unwrap();
    for fd in [segment, lifeline] {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("test -e /proc/$$/fd/{fd}"))
            .status()
            .unwrap();
        assert!(!status.success(), "descriptor {fd} leaked into a child");
    }
    ipc.send_sync("done", b"").unwrap();
}

#[test]
fn a_renderer_s_descriptors_do_not_leak_into_its_children() {
    let _serial = serial();
    let ipc = IpcMain::new().unwrap();
    ipc.on("done", |event, _| {
        event.set_return_value(b"");
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "no_leaks", "");
    child.assert_success(LIMIT);
}
