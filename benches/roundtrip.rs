//! `send_sync` round trip across two processes, beside the physical floor: a raw
//! spin ping-pong on one shared cache line between the same two processes'
//! cores.
//!
//! `cargo bench --bench roundtrip`. The bench binary is main; it re-executes
//! itself as the renderer, and criterion runs inside the renderer, the side
//! that sees the round trip.

use criterion::{Criterion, Throughput};
use ringipc::{IpcMain, IpcRenderer};
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};

const ROLE: &str = "RINGIPC_BENCH_ROLE";

fn main() -> ExitCode {
    if std::env::var_os(ROLE).is_some() {
        renderer();
        return ExitCode::SUCCESS;
    }
    let ipc = IpcMain::new().expect("start main");
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .expect("listen");
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args(std::env::args_os().skip(1)).env(ROLE, "renderer");
    let (_renderer, mut child) = ipc.spawn(&mut cmd).expect("spawn renderer");
    let status = child.wait().expect("wait for renderer");
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn renderer() {
    let ipc = IpcRenderer::from_env().expect("connect");
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("roundtrip");
    g.throughput(Throughput::Elements(1));

    let floor = SpinPingPong::start();
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

/// A forked child that answers every odd value on one shared cache line with
/// the next even one: the cheapest possible cross-process round trip.
struct SpinPingPong {
    line: *const AtomicU64,
    next: std::cell::Cell<u64>,
    child: libc::pid_t,
}

const STOP: u64 = u64::MAX;

impl SpinPingPong {
    fn start() -> SpinPingPong {
        // SAFETY: a fresh shared anonymous page; nothing aliases it.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        let line = page as *const AtomicU64;
        // SAFETY: the child only touches the atomic and then `_exit`s, which is
        // sound after fork even though this process has other threads.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            // Die with the bench: never spin on a core after it is gone.
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            // SAFETY: the page is mapped in the child too, zero-initialised.
            let word = unsafe { &*line };
            loop {
                let v = word.load(Ordering::Acquire);
                if v == STOP {
                    // SAFETY: leaving without running the parent's destructors.
                    unsafe { libc::_exit(0) };
                }
                if v % 2 == 1 {
                    word.store(v + 1, Ordering::Release);
                }
                std::hint::spin_loop();
            }
        }
        SpinPingPong {
            line,
            next: std::cell::Cell::new(1),
            child,
        }
    }

    fn round_trip(&self) {
        // SAFETY: the page stays mapped until `drop`.
        let word = unsafe { &*self.line };
        let v = self.next.get();
        word.store(v, Ordering::Release);
        while word.load(Ordering::Acquire) != v + 1 {
            std::hint::spin_loop();
        }
        self.next.set(v + 2);
    }
}

impl Drop for SpinPingPong {
    fn drop(&mut self) {
        // SAFETY: the page is still mapped; the child exits when it reads STOP.
        unsafe { &*self.line }.store(STOP, Ordering::Release);
        // SAFETY: reaping our own child, then unmapping our own page.
        unsafe {
            libc::waitpid(self.child, std::ptr::null_mut(), 0);
            libc::munmap(self.line as *mut libc::c_void, 4096);
        }
    }
}
