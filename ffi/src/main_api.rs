//! `ringipc_main`: creating main, listeners and handlers, spawning, the
//! readiness descriptor and dispatch.

use crate::config::ringipc_config;
use crate::main_event::ringipc_main_event;
use crate::raw::{self, Out, UserData, into_handle, object, put_if_wanted, str_arg};
use crate::status::ringipc_status;
use crate::status::{Failure, guard, guard_value};
use crate::timeout;
use crate::web_contents::{borrowed, ringipc_web_contents};
use ringipc::{IpcMain, IpcMainEvent, ListenerId, WebContents};
use std::ffi::{CString, c_char, c_int, c_void};
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::time::Duration;

/// Main: spawns renderers, runs listeners and handlers. Free it with
/// `ringipc_main_free`. Thread-safe: any thread may use one main at once.
#[derive(Debug)]
pub struct ringipc_main(IpcMain);

/// Called for each message on a channel (Electron's `ipcMain.on`): on main's
/// dispatcher thread, or on the thread in `ringipc_main_dispatch` for a main
/// without one. `arg` holds `len` bytes, valid during the call. Must return
/// normally (no longjmp, no C++ exception).
pub type ringipc_main_listener = Option<
    extern "C" fn(
        event: *mut ringipc_main_event,
        arg: *const u8,
        len: usize,
        user_data: *mut c_void,
    ),
>;

/// Answers an invoke (Electron's `ipcMain.handle`): set the answer with
/// `ringipc_main_event_set_return_value` and return 0, or set an error text
/// with `ringipc_main_event_set_error` and return nonzero. Runs where
/// listeners run.
pub type ringipc_main_handler = Option<
    extern "C" fn(
        event: *mut ringipc_main_event,
        arg: *const u8,
        len: usize,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// Told about a renderer connecting (on the thread in `ringipc_main_spawn`,
/// before it returns). `contents` is borrowed for the call.
pub type ringipc_connected_fn =
    Option<extern "C" fn(contents: *const ringipc_web_contents, user_data: *mut c_void)>;

/// Told about a renderer being disconnected, with the reason as a
/// NUL-terminated string; both borrowed for the call. Runs on the thread
/// that noticed, usually the dispatcher, and must not block.
pub type ringipc_disconnected_fn = Option<
    extern "C" fn(
        contents: *const ringipc_web_contents,
        reason: *const c_char,
        user_data: *mut c_void,
    ),
>;

/// Starts a main with `config` (NULL for the defaults; it is copied, and
/// stays the caller's), and writes the handle to `*out`.
///
/// # Safety
/// `config` is NULL or a live configuration; `out` points to writable
/// memory for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_new(
    config: *const ringipc_config,
    out: *mut *mut ringipc_main,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: NULL (defaults) or a live configuration, by contract.
        let config = unsafe { config.as_ref() }
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let ipc = IpcMain::with_config(config)?;
        out.put(into_handle(ringipc_main(ipc)));
        Ok(())
    })
}

/// Shuts main down (`ringipc_main_shutdown`), waits for its dispatcher
/// thread, and frees it. Must not be called from one of its own callbacks.
/// NULL is ignored.
///
/// # Safety
/// `ipc` is NULL or from `ringipc_main_new`, and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_free(ipc: *mut ringipc_main) {
    if ipc.is_null() {
        return;
    }
    // Stopped through a shared reference first: callbacks still running
    // during the shutdown may use the handle until it is freed.
    // SAFETY: the caller's contract, passed on.
    let _ = unsafe { ringipc_main_shutdown(ipc) };
    // SAFETY: the caller gives back a handle it owns, once.
    unsafe { raw::free_handle(ipc) };
}

/// Disconnects every renderer (their blocked calls fail), stops the
/// dispatcher, and makes later spawns fail; once it returns, listeners and
/// handlers never run again. Messages renderers sent before are handled
/// first: on the dispatcher thread, or, for a main without one, inside this
/// call on the calling thread (so a listener must not call
/// `ringipc_main_dispatch` then). From a callback, the dispatcher stops after
/// that callback returns. `on_connected` and `on_disconnected` user data is
/// freed at the end.
///
/// # Safety
/// `ipc` is a live main.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_shutdown(ipc: *const ringipc_main) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        unsafe { object(ipc, "ipc") }?.0.shutdown();
        Ok(())
    })
}

fn listener_closure(
    listener: ringipc_main_listener,
    user_data: UserData,
) -> Result<impl Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync + 'static, Failure> {
    let listener = listener.ok_or_else(|| Failure::invalid("listener is NULL"))?;
    Ok(move |event: &mut IpcMainEvent<'_>, arg: &[u8]| {
        let mut c_event = ringipc_main_event::new(event, false);
        listener(&mut c_event, arg.as_ptr(), arg.len(), user_data.ptr());
    })
}

/// `on` and `once` for C.
///
/// # Safety
/// `ipc` is a live main, `channel` NULL or a string, `id_out` NULL or writable.
unsafe fn add_listener(
    ipc: *const ringipc_main,
    channel: *const c_char,
    listener: ringipc_main_listener,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
    id_out: *mut u64,
    once: bool,
) -> ringipc_status {
    // Owned from here: freed if registering fails.
    let user_data = UserData::new(user_data, free_user_data);
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        let f = listener_closure(listener, user_data)?;
        let id = match once {
            false => ipc.0.on(channel, f)?,
            true => ipc.0.once(channel, f)?,
        };
        // SAFETY: NULL or writable, by contract.
        unsafe { put_if_wanted(id_out, id.to_raw()) };
        Ok(())
    })
}

/// Registers `listener` for `channel` (Electron's `ipcMain.on`); listeners
/// of a channel run in registration order. `user_data` is passed to every
/// call, and `free_user_data` (if not NULL) is called with it exactly once,
/// on any thread, when nothing can call the listener any more: after it is
/// removed and the dispatcher has let go of it (a message already being
/// dispatched may still run it once after `ringipc_main_remove_listener`
/// returns, so free its state in `free_user_data`, not after removing), when
/// main is freed, or at once when this call fails. The listener's id (never
/// 0) goes to `*id_out` unless it is NULL.
///
/// # Safety
/// `ipc` is a live main; `channel` a NUL-terminated UTF-8 string;
/// `id_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_on(
    ipc: *const ringipc_main,
    channel: *const c_char,
    listener: ringipc_main_listener,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
    id_out: *mut u64,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        add_listener(
            ipc,
            channel,
            listener,
            user_data,
            free_user_data,
            id_out,
            false,
        )
    }
}

/// `ringipc_main_on` for the next message on `channel` only (Electron's
/// `ipcMain.once`).
///
/// # Safety
/// As for `ringipc_main_on`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_once(
    ipc: *const ringipc_main,
    channel: *const c_char,
    listener: ringipc_main_listener,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
    id_out: *mut u64,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        add_listener(
            ipc,
            channel,
            listener,
            user_data,
            free_user_data,
            id_out,
            true,
        )
    }
}

/// Removes the listener with this id; returns whether it was registered.
///
/// # Safety
/// `ipc` is a live main.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_remove_listener(ipc: *const ringipc_main, id: u64) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        Ok(ipc.0.remove_listener(ListenerId::from_raw(id)))
    })
}

/// Removes every listener of `channel`, or of all channels if it is NULL;
/// returns how many.
///
/// # Safety
/// `ipc` is a live main; `channel` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_remove_all_listeners(
    ipc: *const ringipc_main,
    channel: *const c_char,
) -> usize {
    guard_value(0, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { raw::opt_str_arg(channel, "channel") }?;
        Ok(ipc.0.remove_all_listeners(channel))
    })
}

/// How many listeners `channel` has.
///
/// # Safety
/// `ipc` is a live main; `channel` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_listener_count(
    ipc: *const ringipc_main,
    channel: *const c_char,
) -> usize {
    guard_value(0, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        Ok(ipc.0.listener_count(channel))
    })
}

/// `handle` and `handle_once` for C.
///
/// # Safety
/// As for `ringipc_main_handle`.
unsafe fn add_handler(
    ipc: *const ringipc_main,
    channel: *const c_char,
    handler: ringipc_main_handler,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
    once: bool,
) -> ringipc_status {
    let user_data = UserData::new(user_data, free_user_data);
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        let handler = handler.ok_or_else(|| Failure::invalid("handler is NULL"))?;
        let f = move |event: &mut IpcMainEvent<'_>, arg: &[u8]| -> Result<Vec<u8>, String> {
            let mut c_event = ringipc_main_event::new(event, true);
            let code = handler(&mut c_event, arg.as_ptr(), arg.len(), user_data.ptr());
            let (value, error) = c_event.take_answer();
            match code {
                0 => Ok(value),
                _ => Err(error.unwrap_or_else(|| format!("the handler returned {code}"))),
            }
        };
        match once {
            false => ipc.0.handle(channel, f)?,
            true => ipc.0.handle_once(channel, f)?,
        }
        Ok(())
    })
}

/// Registers the handler of `channel` for renderers' `invoke` (Electron's
/// `ipcMain.handle`). One per channel: a second fails with
/// `RINGIPC_STATUS_HANDLER_EXISTS`. `user_data` and `free_user_data` as for
/// `ringipc_main_on`.
///
/// # Safety
/// `ipc` is a live main; `channel` a NUL-terminated UTF-8 string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_handle(
    ipc: *const ringipc_main,
    channel: *const c_char,
    handler: ringipc_main_handler,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { add_handler(ipc, channel, handler, user_data, free_user_data, false) }
}

/// `ringipc_main_handle` for the next invoke only (Electron's
/// `ipcMain.handleOnce`).
///
/// # Safety
/// As for `ringipc_main_handle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_handle_once(
    ipc: *const ringipc_main,
    channel: *const c_char,
    handler: ringipc_main_handler,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { add_handler(ipc, channel, handler, user_data, free_user_data, true) }
}

/// Removes the handler of `channel`; returns whether there was one.
///
/// # Safety
/// `ipc` is a live main; `channel` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_remove_handler(
    ipc: *const ringipc_main,
    channel: *const c_char,
) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        Ok(ipc.0.remove_handler(channel))
    })
}

/// Calls `callback` for each renderer that connects. `user_data` is freed
/// with `free_user_data` when main shuts down or is freed.
///
/// # Safety
/// `ipc` is a live main.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_on_connected(
    ipc: *const ringipc_main,
    callback: ringipc_connected_fn,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
) -> ringipc_status {
    let user_data = UserData::new(user_data, free_user_data);
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        let callback = callback.ok_or_else(|| Failure::invalid("callback is NULL"))?;
        ipc.0.on_connected(move |contents: &WebContents| {
            callback(borrowed(contents), user_data.ptr());
        });
        Ok(())
    })
}

/// Calls `callback` once for each renderer that is disconnected, with the
/// reason. `user_data` is freed with `free_user_data` when main shuts down
/// or is freed, after the last renderer was reported.
///
/// # Safety
/// `ipc` is a live main.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_on_disconnected(
    ipc: *const ringipc_main,
    callback: ringipc_disconnected_fn,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
) -> ringipc_status {
    let user_data = UserData::new(user_data, free_user_data);
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        let callback = callback.ok_or_else(|| Failure::invalid("callback is NULL"))?;
        ipc.0
            .on_disconnected(move |contents: &WebContents, reason: &str| {
                let reason = CString::new(reason.replace('\0', "\\0")).unwrap_or_default();
                callback(borrowed(contents), reason.as_ptr(), user_data.ptr());
            });
        Ok(())
    })
}

/// Starts `program` (looked up in `PATH` if it has no slash) with the
/// `argc` arguments in `argv` (not counting the program's name; `argv` may
/// be NULL when `argc` is 0) as a renderer, which connects with
/// `ringipc_renderer_connect`. It inherits this process's environment and
/// standard streams. Writes the renderer's handle (owned by the caller) to
/// `*contents_out`, and its process id to `*pid_out` unless that is NULL.
/// The caller owns the child process and reaps it (`waitpid`).
///
/// # Safety
/// `ipc` is a live main; `program` and the `argc` entries of `argv` are
/// NUL-terminated strings; `contents_out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_spawn(
    ipc: *const ringipc_main,
    program: *const c_char,
    argv: *const *const c_char,
    argc: usize,
    contents_out: *mut *mut ringipc_web_contents,
    pid_out: *mut i32,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let out = unsafe { Out::new(contents_out, "contents_out") }?;
        // SAFETY: the caller's contract, passed on.
        let program = unsafe { str_arg(program, "program") }?;
        let mut command = Command::new(program);
        // SAFETY: argv holds argc readable pointers, by contract.
        for &arg in unsafe { raw::slice_arg(argv, argc, "argv") }? {
            // SAFETY: each is a NUL-terminated string, by contract.
            command.arg(unsafe { str_arg(arg, "an argument") }?);
        }
        let (contents, child) = ipc.0.spawn(&mut command)?;
        // Dropping `Child` neither kills nor reaps: the caller does.
        // SAFETY: NULL or writable, by contract.
        unsafe { put_if_wanted(pid_out, child.id() as i32) };
        out.put(into_handle(ringipc_web_contents(contents)));
        Ok(())
    })
}

/// Main's readiness descriptor, for a main without a dispatcher thread: it
/// polls readable when `ringipc_main_dispatch` has work. Owned by main
/// (do not close it); valid until main is freed. -1 if `ipc` is NULL.
///
/// # Safety
/// `ipc` is NULL or a live main.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_fd(ipc: *const ringipc_main) -> c_int {
    guard_value(-1, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        Ok(ipc.0.as_fd().as_raw_fd())
    })
}

/// Runs dispatch on the calling thread for up to `timeout_ms` milliseconds
/// (0: what is ready now; negative: until main shuts down), for a main made
/// with `ringipc_config_set_dispatcher_thread(config, false)`; listeners and
/// handlers run on this thread, inside this call. The number of records
/// handled goes to `*handled` unless it is NULL.
///
/// # Safety
/// `ipc` is a live main; `handled` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_dispatch(
    ipc: *const ringipc_main,
    timeout_ms: i64,
    handled: *mut usize,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        let count = ipc
            .0
            .dispatch(timeout(timeout_ms).unwrap_or(Duration::MAX))?;
        // SAFETY: NULL or writable, by contract.
        unsafe { put_if_wanted(handled, count) };
        Ok(())
    })
}
