//! Which thread is running, without `std::thread::current()`: on a thread
//! Rust did not start (a C host's), that allocates a handle std never
//! frees, which valgrind reports as "possibly lost" in every C program.

use std::os::unix::thread::{JoinHandleExt, RawPthread};
use std::thread::JoinHandle;

/// Whether `handle` is the thread calling this.
pub(crate) fn is_current<T>(handle: &JoinHandle<T>) -> bool {
    // SAFETY: pthread_self has no preconditions and cannot fail.
    let current: RawPthread = unsafe { libc::pthread_self() };
    handle.as_pthread_t() == current
}
