//! Running user callbacks so that a panic in one costs that call, not the
//! thread that made it (main's dispatcher, a renderer's receiver).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

/// Runs `f`, turning a panic into its message.
#[inline]
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(p.as_ref()))
}

/// The text of a panic payload, when it is a string.
fn message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Joins a worker thread, unless this is that thread: the last handle on
/// main or a renderer may be dropped by a callback running on the worker
/// itself, which then stops once the callback returns.
pub(crate) fn join_unless_current(worker: JoinHandle<()>) {
    if !crate::os::thread::is_current(&worker) {
        let _ = worker.join();
    }
}
