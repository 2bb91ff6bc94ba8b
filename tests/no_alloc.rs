//! The hot path allocates nothing once warm: `send_sync_into` and `send` in the
//! renderer, and dispatch plus reply in main. A counting global allocator in
//! both processes (this binary is main and, re-executed, the renderer). In
//! main it counts only the dispatcher's thread, where listeners run and
//! replies are written: the test harness's own threads may allocate at any
//! moment (reporting another test's result), and they are not main.

mod common;

use common::*;
use ringipc::{IpcRenderer, WaitBackend};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Count only on threads that marked themselves (main's test sets it).
static ONLY_MARKED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's allocations count.
    static MARKED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    let marked = || MARKED.try_with(Cell::get).unwrap_or(false);
    if !ONLY_MARKED.load(Ordering::Relaxed) || marked() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ENTRY: &str = "renderer_entry";
const CALLS: u64 = 20_000;

#[test]
fn renderer_entry() {
    if std::env::var(ROLE).is_err() {
        return;
    }
    let ipc = IpcRenderer::from_env().unwrap();
    let request = [7u8; 16];
    let mut reply = Vec::with_capacity(64);
    let round = |n: u64, reply: &mut Vec<u8>| {
        for i in 0..n {
            if i % 4 == 0 {
                ipc.send("async", request).unwrap();
            }
            ipc.send_sync_into("sync", request, reply, None).unwrap();
        }
    };
    round(1_000, &mut reply); // warm up: buffers reach their working size
    ipc.send_sync_into("mark", "start", &mut reply, None)
        .unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    round(CALLS, &mut reply);
    let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
    ipc.send_sync_into("mark", "stop", &mut reply, None)
        .unwrap();
    assert_eq!(
        during, 0,
        "renderer allocated {during} times in {CALLS} calls"
    );
    std::process::exit(0);
}

#[test]
fn hot_path_allocates_nothing() {
    ONLY_MARKED.store(true, Ordering::Relaxed);
    let ipc = main_with(WaitBackend::Futex);
    ipc.on("sync", |e, arg| {
        e.set_return_value(arg);
    })
    .unwrap();
    ipc.on("async", |_, _| {}).unwrap();
    let marks = Arc::new(Mutex::new(Vec::new()));
    let m = marks.clone();
    ipc.on("mark", move |e, _| {
        // The dispatcher's thread, from here on.
        MARKED.with(|m| m.set(true));
        // Read first: pushing to the vector may itself allocate.
        let now = ALLOCATIONS.load(Ordering::Relaxed);
        m.lock().unwrap().push(now);
        e.set_return_value("ok");
    })
    .unwrap();
    let (_wc, mut child) = spawn(&ipc, ENTRY, "no_alloc", "");
    child.assert_success(Duration::from_secs(60));
    let marks = marks.lock().unwrap();
    assert_eq!(marks.len(), 2);
    // The mark listener's own push allocates once, at the first mark.
    let during = marks[1] - marks[0] - 1;
    assert_eq!(
        during, 0,
        "main allocated {during} times while serving {CALLS} calls"
    );
}
