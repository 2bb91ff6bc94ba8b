//! `ringipc_web_contents`: one renderer as main sees it.

use crate::raw::{self, into_handle, object, str_arg};
use crate::status::{guard, guard_value, ringipc_status};
use ringipc::WebContents;
use std::ffi::c_char;

/// One renderer, seen from main (Electron's `webContents`). A handle from
/// `ringipc_main_spawn` or `ringipc_web_contents_clone` is owned by the
/// caller (free it with `ringipc_web_contents_free`); one from
/// `ringipc_main_event_sender` is borrowed for the callback's duration.
/// Thread-safe.
#[derive(Debug)]
#[repr(transparent)]
pub struct ringipc_web_contents(pub(crate) WebContents);

/// A `WebContents` the library lends, as the C handle type.
pub(crate) fn borrowed(contents: &WebContents) -> *const ringipc_web_contents {
    // `ringipc_web_contents` is `repr(transparent)` over `WebContents`.
    std::ptr::from_ref(contents).cast()
}

/// Sends `len` bytes on `channel` to this renderer (Electron's
/// `webContents.send`); they are copied. Never blocks: what the renderer's
/// ring cannot take now waits in main's outbox. A renderer whose outbox
/// passes its limit is disconnected, and `on_disconnected` runs inside this
/// call on the calling thread.
///
/// # Safety
/// `contents` is a live or borrowed handle; `channel` a NUL-terminated
/// string; `data` holds `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_send(
    contents: *const ringipc_web_contents,
    channel: *const c_char,
    data: *const u8,
    len: usize,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let contents = unsafe { object(contents, "contents") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { raw::bytes_arg(data, len) }?;
        contents.0.send(channel, value)?;
        Ok(())
    })
}

/// Waits until everything sent to this renderer so far has left main's
/// outbox for its ring (it may not be read yet), or `timeout_ms` passes
/// (negative: no deadline): backpressure for a thread that sends a lot.
/// Sleeps meanwhile. `RINGIPC_STATUS_TIMEOUT` if the outbox is still not
/// empty, `RINGIPC_STATUS_DISCONNECTED` once the renderer is gone. Not from
/// a callback: main's dispatcher would wait meanwhile.
///
/// # Safety
/// `contents` is a live or borrowed handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_wait_sent(
    contents: *const ringipc_web_contents,
    timeout_ms: i64,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let contents = unsafe { object(contents, "contents") }?;
        let timeout = crate::timeout(timeout_ms).unwrap_or(std::time::Duration::MAX);
        contents.0.wait_sent(timeout)?;
        Ok(())
    })
}

/// This renderer's id, unique within its main (never 0). 0 if NULL.
///
/// # Safety
/// `contents` is NULL or a live or borrowed handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_id(contents: *const ringipc_web_contents) -> u32 {
    guard_value(0, || {
        // SAFETY: the caller's contract, passed on.
        let contents = unsafe { object(contents, "contents") }?;
        Ok(contents.0.id())
    })
}

/// This renderer's process id. 0 if NULL.
///
/// # Safety
/// `contents` is NULL or a live or borrowed handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_pid(contents: *const ringipc_web_contents) -> u32 {
    guard_value(0, || {
        // SAFETY: the caller's contract, passed on.
        let contents = unsafe { object(contents, "contents") }?;
        Ok(contents.0.process_id())
    })
}

/// Whether this renderer is still connected.
///
/// # Safety
/// `contents` is NULL or a live or borrowed handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_is_connected(
    contents: *const ringipc_web_contents,
) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let contents = unsafe { object(contents, "contents") }?;
        Ok(contents.0.is_connected())
    })
}

/// A new handle to the same renderer, owned by the caller. NULL if
/// `contents` is NULL.
///
/// # Safety
/// `contents` is NULL or a live or borrowed handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_clone(
    contents: *const ringipc_web_contents,
) -> *mut ringipc_web_contents {
    guard_value(std::ptr::null_mut(), || {
        // SAFETY: the caller's contract, passed on.
        let contents = unsafe { object(contents, "contents") }?;
        Ok(into_handle(ringipc_web_contents(contents.0.clone())))
    })
}

/// Frees a handle the caller owns. The renderer stays connected while main
/// runs. NULL is ignored.
///
/// # Safety
/// `contents` is NULL or an owned handle, not used afterwards (never a
/// borrowed one).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_web_contents_free(contents: *mut ringipc_web_contents) {
    // SAFETY: the caller gives back a handle it owns, once.
    unsafe { raw::free_handle(contents) };
}
