//! Helpers for tests that run real renderer processes: the test binary re-executes
//! itself with a role in the environment, and every child is killed and reaped
//! when its guard drops, pass or fail.

#![allow(dead_code)]

use ringipc::{Config, IpcMain, WaitBackend, WebContents};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const ROLE: &str = "RINGIPC_TEST_ROLE";
pub const ARG: &str = "RINGIPC_TEST_ARG";

/// Multi-process tests spin on both cores; running two at once on a 2-core
/// machine only measures the scheduler. Every such test holds this lock.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn main_with(backend: WaitBackend) -> IpcMain {
    IpcMain::with_config(Config::default().wait_backend(backend)).expect("IpcMain starts")
}

/// The command that re-runs this test binary as `role`, entering through the
/// test named `entry`.
pub fn role_command(entry: &str, role: &str, arg: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .env(ARG, arg)
        .stdout(Stdio::null());
    c
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits for the child to exit, failing the test if it takes over `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.0.as_mut().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.0 = None;
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "child {} still running after {limit:?}",
                child.id()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn assert_success(&mut self, limit: Duration) {
        let status = self.wait_for_exit(limit);
        assert!(status.success(), "renderer failed: {status}");
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn spawn(ipc: &IpcMain, entry: &str, role: &str, arg: &str) -> (WebContents, ChildGuard) {
    let (wc, child) = ipc
        .spawn(&mut role_command(entry, role, arg))
        .expect("spawn renderer");
    (wc, ChildGuard(Some(child)))
}

/// Polls `cond` until it holds, failing the test after `limit`. For liveness
/// checks (something must eventually happen), never for performance.
pub fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Deterministic payload for sequence number `seq`: its length and bytes
/// both depend on `seq`, and the first eight bytes are `seq` itself.
pub fn pattern(seq: u64, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len.max(8))
        .map(|i| (seq.wrapping_mul(131) as usize + i * 7) as u8)
        .collect();
    v[..8].copy_from_slice(&seq.to_le_bytes());
    v
}

/// Checks a [`pattern`] payload and returns its sequence number.
pub fn check_pattern(bytes: &[u8]) -> Result<u64, String> {
    let seq = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or("payload shorter than 8 bytes")?
            .try_into()
            .unwrap(),
    );
    if bytes != pattern(seq, bytes.len()).as_slice() {
        return Err(format!(
            "payload of seq {seq} ({} bytes) is corrupt",
            bytes.len()
        ));
    }
    Ok(seq)
}

/// xorshift64: a reproducible stream of choices without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Entries in /dev/shm that look like ours.
pub fn shm_leftovers() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("ringipc"))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a child's piped stdout, line by line, into a channel.
pub fn lines(child: &mut ChildGuard) -> mpsc::Receiver<String> {
    let stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits for the next line starting with `prefix` and returns the rest of it.
pub fn line_with(rx: &mpsc::Receiver<String>, limit: Duration, prefix: &str) -> String {
    loop {
        let l = rx.recv_timeout(limit).expect("child output");
        if let Some(rest) = l.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
}

/// What main holds of the operating system's resources.
#[derive(Debug, PartialEq)]
pub struct Footprint {
    pub fds: usize,
    pub segments: usize,
    pub threads: usize,
    pub rss_kib: u64,
}

pub fn footprint() -> Footprint {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    };
    Footprint {
        fds: std::fs::read_dir("/proc/self/fd").unwrap().count(),
        segments: std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| l.contains("memfd:ringipc"))
            .count(),
        threads: field("Threads:") as usize,
        rss_kib: field("VmRSS:"),
    }
}

/// A renderer role: checked round trips on "echo" until main sends "stop",
/// pausing `pause` every 64 calls (yielding if zero), like a real app; any
/// error fails it.
pub fn role_bystander(pause: Duration) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let ipc = ringipc::IpcRenderer::from_env().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ipc.on("stop", move |_, _| s.store(true, Ordering::Relaxed))
        .unwrap();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let request = pattern(seq, 16 + (seq % 200) as usize);
        let reply = ipc.send_sync("echo", &request).unwrap();
        assert_eq!(reply, request, "call {seq} came back wrong");
        seq += 1;
        if seq % 64 == 0 {
            if pause.is_zero() {
                std::thread::yield_now();
            } else {
                std::thread::sleep(pause);
            }
        }
    }
}

/// Main's side: a listener on `channel` that answers every call with an
/// empty value and counts them; returns the count.
pub fn counted_calls(
    ipc: &ringipc::IpcMain,
    channel: &str,
) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let count = std::sync::Arc::new(AtomicU64::new(0));
    let c = count.clone();
    ipc.on(channel, move |event, _| {
        c.fetch_add(1, Ordering::Relaxed);
        event.set_return_value(b"");
    })
    .unwrap();
    count
}

/// Main's side: an `echo` listener, and a `note` listener that checks each
/// [`pattern`] payload and counts them; returns the count.
pub fn echo_and_notes(ipc: &ringipc::IpcMain) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .unwrap();
    let notes = std::sync::Arc::new(AtomicU64::new(0));
    let n = notes.clone();
    ipc.on("note", move |_, arg| {
        check_pattern(arg).unwrap();
        n.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    notes
}
