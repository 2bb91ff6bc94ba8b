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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Named segments main may have mapped at once.
const SLOTS: usize = 1024;

/// A registered range, in one word so the handler never reads a torn one:
/// the start page in the high 36 bits, the length in pages in the low 28
/// (1 TiB). 0 is a free slot.
struct Range {
    pages: AtomicU64,
    tripped: AtomicBool,
}

const PAGE: usize = 4096;
const LEN_BITS: u32 = 28;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Range = Range {
    pages: AtomicU64::new(0),
    tripped: AtomicBool::new(false),
};

fn pack(start: usize, len: usize) -> Option<u64> {
    let (first, count) = ((start / PAGE) as u64, len.div_ceil(PAGE) as u64);
    (start % PAGE == 0 && count < 1 << LEN_BITS && first < 1 << (64 - LEN_BITS))
        .then_some(first << LEN_BITS | count)
}

fn unpack(word: u64) -> (usize, usize) {
    let first = (word >> LEN_BITS) as usize;
    let count = (word & ((1 << LEN_BITS) - 1)) as usize;
    (first * PAGE, count * PAGE)
}

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
        r.tripped.store(false, Ordering::Relaxed);
        // SYNC(range): Release → Acquire in the handler and in `guard`: the
        // slot is free (and clean for its next range) once it reads 0.
        r.pages.store(0, Ordering::Release);
    }
}

/// Registers `len` bytes at `start` (page-aligned, from `mmap`). Fails if
/// another handler replaced ours since it was installed: the protection
/// would be gone.
pub(crate) fn guard(start: *mut u8, len: usize) -> io::Result<Guard> {
    install()?;
    if !ours_installed() {
        return Err(io::Error::other(
            "another SIGBUS handler replaced ringipc's: a named segment would be unguarded",
        ));
    }
    let word = pack(start as usize, len)
        .ok_or_else(|| io::Error::other("a named segment outside what the guard can describe"))?;
    for (slot, r) in RANGES.iter().enumerate() {
        // SYNC(range): AcqRel ↔ the Release in `Guard::drop` (the slot is
        // free, its `tripped` cleared) and the Acquire in the handler.
        if r.pages
            .compare_exchange(0, word, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(Guard { slot });
        }
    }
    Err(io::Error::other("too many named segments mapped at once"))
}

fn ours_installed() -> bool {
    // SAFETY: all-zero is a valid sigaction to fill in.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the current action only.
    let read = unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut current) };
    read == 0 && current.sa_sigaction == on_sigbus as *const () as usize
}

fn install() -> io::Result<()> {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if PREVIOUS.get().is_some() {
        return Ok(());
    }
    // The old action is stored before ours is live, so a fault meant for
    // it always finds it.
    // SAFETY: all-zero is a valid sigaction for the previous one.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the current action only.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let _ = PREVIOUS.set(previous);
    // SAFETY: all-zero is a valid sigaction to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: installs our handler; both pointers valid.
    if unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let siginfo = unsafe { &*info };
    // Only a fault the kernel raised names an address (a `kill` or
    // `sigqueue` from another process has si_code <= 0, and the sender
    // chose what sits there).
    let faulted = siginfo.si_code > 0;
    // SAFETY: SIGBUS fills in the faulting address.
    let addr = unsafe { siginfo.si_addr() } as usize;
    for r in RANGES.iter().filter(|_| faulted) {
        // SYNC(range): Acquire ← the AcqRel in `guard`.
        let (start, len) = unpack(r.pages.load(Ordering::Acquire));
        if start != 0 && addr >= start && addr < start + len {
            // SAFETY: the address of this thread's errno, which the handler
            // must leave as the interrupted code had it.
            let errno_at = unsafe { libc::__errno_location() };
            // SAFETY: that address is valid for this thread's lifetime.
            let errno = unsafe { *errno_at };
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
            // SAFETY: as above.
            unsafe { *errno_at = errno };
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
            // SAFETY: restores the default action; a fault then happens
            // again on return, now with the default action, as it would
            // have without us.
            unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
            if !faulted {
                // SAFETY: a sent signal does not recur by itself: resend it.
                unsafe { libc::raise(libc::SIGBUS) };
            }
        }
    }
}
