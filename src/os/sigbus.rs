//! Surviving a renderer that truncates a named segment under main's mapping.
//!
//! A named POSIX segment cannot be sealed: a renderer can `ftruncate` it, and
//! main's next touch of the lost pages raises SIGBUS. Main registers each
//! named segment it maps here; the handler, for a fault inside one, maps
//! private zero pages over the whole range (so the faulting access, and every
//! later one, reads zeros and writes nowhere) and marks the range tripped;
//! the dispatcher then disconnects that renderer. A fault anywhere else goes
//! to the handler that was there before, or kills the process as SIGBUS
//! would have.
//!
//! The handler touches only this fixed table of atomics and calls `mmap`
//! (a plain system call), so it is async-signal-safe.

use std::io;
use std::sync::OnceLock;
// Plain std atomics even under loom: statics a signal handler reads.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Named segments main may have mapped at once.
const SLOTS: usize = 1024;

struct Range {
    start: AtomicUsize,
    len: AtomicUsize,
    tripped: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Range = Range {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    tripped: AtomicBool::new(false),
};

static RANGES: [Range; SLOTS] = [EMPTY; SLOTS];
/// The handler that was there before ours, once ours is installed.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A registered range: deregisters on drop.
pub(crate) struct Guard {
    slot: usize,
}

impl Guard {
    /// Whether a fault in the range was caught (the mapping now reads zeros).
    pub fn tripped(&self) -> bool {
        // SYNC(tripped): Acquire ← Release in the handler.
        RANGES[self.slot].tripped.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let r = &RANGES[self.slot];
        // SYNC(range): Release → Acquire in the handler and in `guard`: the
        // slot is free once `start` reads 0.
        r.len.store(0, Ordering::Release);
        r.start.store(0, Ordering::Release);
    }
}

/// Registers `len` bytes at `start` (page-aligned, from `mmap`).
pub(crate) fn guard(start: *mut u8, len: usize) -> io::Result<Guard> {
    install()?;
    for (slot, r) in RANGES.iter().enumerate() {
        // SYNC(range): Acquire ← Release in `Guard::drop` (the slot is free).
        if r.start
            .compare_exchange(0, start as usize, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            r.tripped.store(false, Ordering::Relaxed);
            // SYNC(range): Release → Acquire in the handler.
            r.len.store(len, Ordering::Release);
            return Ok(Guard { slot });
        }
    }
    Err(io::Error::other("too many named segments mapped at once"))
}

fn install() -> io::Result<()> {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if PREVIOUS.get().is_some() {
        return Ok(());
    }
    // SAFETY: all-zero is a valid sigaction to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: all-zero is a valid sigaction for the previous one.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: installs our handler, keeping the old one; both valid. No
    // range is registered yet, so the handler forwards every fault until
    // `PREVIOUS` is set just below (a fault in between finds it unset and
    // dies of SIGBUS, as it would have).
    if unsafe { libc::sigaction(libc::SIGBUS, &action, &mut previous) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let _ = PREVIOUS.set(previous);
    Ok(())
}

extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let siginfo = unsafe { &*info };
    // SAFETY: SIGBUS fills in the faulting address.
    let addr = unsafe { siginfo.si_addr() } as usize;
    for r in &RANGES {
        // SYNC(range): Acquire ← Release in `guard`.
        let start = r.start.load(Ordering::Acquire);
        let len = r.len.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < start + len {
            // SAFETY: replaces exactly the registered mapping, which main
            // owns and no Rust reference covers, with private zero pages.
            let p = unsafe {
                libc::mmap(
                    start as *mut libc::c_void,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                // SYNC(tripped): Release → Acquire in `Guard::tripped`.
                r.tripped.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not ours: what would have happened without us.
    match PREVIOUS.get().copied() {
        Some(p) if p.sa_flags & libc::SA_SIGINFO != 0 && p.sa_sigaction > 1 => {
            // SAFETY: an SA_SIGINFO handler's documented signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(p.sa_sigaction) };
            f(signal, info, context);
        }
        Some(p) if p.sa_sigaction > 1 => {
            // SAFETY: a plain handler's documented signature.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
            f(signal);
        }
        _ => {
            // SIG_DFL (or SIG_IGN, which cannot hold for a fault): die of it.
            // SAFETY: restores the default action, then re-raises.
            unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
            // SAFETY: as above.
            unsafe { libc::raise(libc::SIGBUS) };
        }
    }
}
