//! The shared (cross-process) futex: the only place that issues `SYS_futex`.
//!
//! Never uses `FUTEX_PRIVATE_FLAG`: private futexes are keyed by the address in one
//! process's address space, so a wake from another process would silently be lost.
//! Under loom the kernel is modelled by a mutex and a condvar: the value check and
//! the sleep happen under one lock, exactly as the kernel's hash-bucket lock does.

use crate::sync::FutexWord;
use std::time::Duration;

/// Sleeps while `*word == expected`, for at most `timeout`.
/// Returns `true` if the timeout expired.
#[cfg(not(loom))]
pub(crate) fn wait(word: &FutexWord, expected: u32, timeout: Duration) -> bool {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the address is a live, aligned `AtomicU32` in a shared mapping; the
    // kernel only reads it. `ts` outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT)
}

/// Wakes at most `at_most` threads, in any process, sleeping on `word`.
#[cfg(not(loom))]
pub(crate) fn wake(word: &FutexWord, at_most: u32) {
    // SAFETY: as in `wait`; FUTEX_WAKE never blocks and never writes the word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            at_most.min(i32::MAX as u32) as i32,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(loom)]
pub(crate) fn wait(word: &FutexWord, expected: u32, _timeout: Duration) -> bool {
    use crate::sync::Ordering;
    let guard = word.bucket.lock.lock().unwrap();
    // The kernel reads the word with no ordering of its own; under its bucket lock.
    if word.load(Ordering::Relaxed) != expected {
        return false;
    }
    // No timeout in the model: a lost wake-up must show up as a deadlock.
    drop(word.bucket.cv.wait(guard).unwrap());
    false
}

#[cfg(loom)]
pub(crate) fn wake(word: &FutexWord, at_most: u32) {
    let _guard = word.bucket.lock.lock().unwrap();
    if at_most == 1 {
        word.bucket.cv.notify_one();
    } else {
        word.bucket.cv.notify_all();
    }
}
