//! A descriptor watched inside Node's own event loop: a libuv `uv_poll_t`
//! whose callback calls one JavaScript function the way Node calls its own
//! callbacks (`napi_make_callback`, so promise jobs and `process.nextTick`
//! run when it returns). No thread, no hop: the JavaScript thread learns that
//! ringipc has work from the same `epoll_wait` in which it waits for
//! everything else.
//!
//! All of the addon's `unsafe` lives here. libuv's functions are declared by
//! hand and resolved, like N-API's, against the `node` executable when it
//! loads the addon; `uv_handle_size` sizes the handle so that no libuv
//! header is needed. The only field touched is `data`, libuv's documented
//! first member of every handle.

use napi::sys;
use napi::{Env, Error, JsFunction, NapiRaw, Result, Status};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr;

/// `UV_POLL` in libuv's `uv_handle_type`, stable since libuv 1.0.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

type PollCallback = extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type CloseCallback = extern "C" fn(handle: *mut c_void);

unsafe extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, callback: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, callback: CloseCallback);
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
}

/// What the poll callback needs, reached through the handle's `data`.
struct Target {
    env: sys::napi_env,
    callback: sys::napi_ref,
    context: sys::napi_async_context,
}

/// A descriptor in Node's loop that calls `callback()` on the JavaScript
/// thread whenever it is readable. Starts unreferenced: it keeps the process
/// alive only after [`set_ref`](Self::set_ref)`(true)`. Closed on drop.
pub struct Poll {
    /// A `uv_poll_t` of `uv_handle_size(UV_POLL)` bytes from `malloc`;
    /// freed by the close callback once libuv lets go of it.
    handle: *mut c_void,
    referenced: bool,
    stopped: bool,
}

impl Poll {
    /// Watches `fd` for readability on `env`'s loop. `fd` must stay open
    /// until the `Poll` is dropped; `name` labels it for async hooks.
    pub fn new(env: &Env, fd: RawFd, callback: JsFunction, name: &str) -> Result<Poll> {
        let raw_env = env.raw();
        let mut event_loop = ptr::null_mut();
        // SAFETY: `raw_env` is the live env of the calling JavaScript thread.
        check(unsafe { sys::napi_get_uv_event_loop(raw_env, &mut event_loop) })?;
        let resource = env.create_object()?;
        let resource_name = env.create_string(name)?;
        let mut context = ptr::null_mut();
        // SAFETY: both values are live in this env's current handle scope.
        check(unsafe {
            sys::napi_async_init(raw_env, resource.raw(), resource_name.raw(), &mut context)
        })?;
        let mut callback_ref = ptr::null_mut();
        // SAFETY: `callback` is a live function value of this env; one strong
        // reference keeps it alive until `Drop` deletes it.
        let referenced =
            unsafe { sys::napi_create_reference(raw_env, callback.raw(), 1, &mut callback_ref) };
        if let Err(e) = check(referenced) {
            // SAFETY: the context made above, destroyed once.
            unsafe { sys::napi_async_destroy(raw_env, context) };
            return Err(e);
        }
        let target = Box::new(Target {
            env: raw_env,
            callback: callback_ref,
            context,
        });
        // SAFETY: uv_handle_size only reads its argument.
        let size = unsafe { uv_handle_size(UV_POLL) };
        // SAFETY: malloc of a non-zero size; checked for NULL below.
        let handle = unsafe { libc::malloc(size) };
        if handle.is_null() {
            release(&target);
            return Err(Error::new(
                Status::GenericFailure,
                "out of memory".to_owned(),
            ));
        }
        // SAFETY: `handle` is `size` writable bytes, the size libuv asked for.
        let init = unsafe { uv_poll_init(event_loop, handle, fd) };
        if init != 0 {
            // SAFETY: libuv never saw the handle, so it is ours to free.
            unsafe { libc::free(handle) };
            release(&target);
            return Err(uv_error("uv_poll_init", init));
        }
        // SAFETY: `data` is the first member of every initialised handle;
        // the box is reclaimed in `on_close`.
        unsafe { *(handle as *mut *mut Target) = Box::into_raw(target) };
        let poll = Poll {
            handle,
            referenced: true,
            stopped: false,
        };
        // SAFETY: the handle is initialised and not closing.
        let started = unsafe { uv_poll_start(handle, UV_READABLE, on_readable) };
        if started != 0 {
            return Err(uv_error("uv_poll_start", started));
        }
        let mut poll = poll;
        poll.set_ref(false);
        Ok(poll)
    }

    /// Stops watching for good (the descriptor stays readable once main
    /// shut down or the peer left; watching it would spin the loop).
    pub fn stop(&mut self) {
        if !std::mem::replace(&mut self.stopped, true) {
            self.set_ref(false);
            // SAFETY: the handle is open; stopping an active poll is allowed.
            unsafe { uv_poll_stop(self.handle) };
        }
    }

    /// Whether the descriptor keeps Node's loop (and so the process) alive.
    pub fn set_ref(&mut self, keep_alive: bool) {
        let keep_alive = keep_alive && !self.stopped;
        if keep_alive == self.referenced {
            return;
        }
        self.referenced = keep_alive;
        if keep_alive {
            // SAFETY: the handle is initialised and open until `Drop`.
            unsafe { uv_ref(self.handle) };
        } else {
            // SAFETY: as above.
            unsafe { uv_unref(self.handle) };
        }
    }
}

impl Drop for Poll {
    /// Runs on the JavaScript thread while the env lives (a finalizer or
    /// the addon's teardown), so the env's reference and async context are
    /// released here; libuv's close callback, which may come after the env
    /// is gone, only frees memory.
    fn drop(&mut self) {
        self.stop();
        // SAFETY: `data` is the first member of the initialised handle.
        let target = unsafe { *(self.handle as *const *const Target) };
        // SAFETY: the target lives until `on_close`, which has not run.
        release(unsafe { &*target });
        // SAFETY: closes the handle once; libuv calls `on_close` later on
        // this loop, which frees it and its target.
        unsafe { uv_close(self.handle, on_close) };
    }
}

/// Also on an error status (libuv then stopped the poll): JavaScript's
/// `drain` finds the reason on the descriptor instead of hanging silently.
extern "C" fn on_readable(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: `data` is the first member of the handle libuv passes.
    let data = unsafe { *(handle as *const *const Target) };
    // SAFETY: `data` was set to a live `Target` before the poll started and
    // is freed only in `on_close`, after which libuv calls nothing.
    let target = unsafe { &*data };
    let env = target.env;
    let mut scope = ptr::null_mut();
    // SAFETY: libuv runs this callback on the env's JavaScript thread,
    // outside any JavaScript frame.
    if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
        return;
    }
    let mut function = ptr::null_mut();
    let mut receiver = ptr::null_mut();
    let mut result = ptr::null_mut();
    // SAFETY: the reference is alive until `on_close`.
    let got = unsafe { sys::napi_get_reference_value(env, target.callback, &mut function) };
    // `napi_make_callback` wants an object as `this`: the global one.
    // SAFETY: `env` is live, `receiver` is an out-pointer.
    let got = got == sys::Status::napi_ok
        && unsafe { sys::napi_get_global(env, &mut receiver) } == sys::Status::napi_ok;
    if got && !function.is_null() {
        // SAFETY: a function and the global object of this env, no arguments;
        // the async context lives until `on_close`.
        let status = unsafe {
            sys::napi_make_callback(
                env,
                target.context,
                receiver,
                function,
                0,
                ptr::null(),
                &mut result,
            )
        };
        if status == sys::Status::napi_pending_exception {
            rethrow_uncaught(env);
        }
    }
    // SAFETY: the scope opened above, closed once.
    unsafe { sys::napi_close_handle_scope(env, scope) };
}

/// An exception the callback let escape goes where Node sends its own:
/// `process.on('uncaughtException')`, or the end of the process.
fn rethrow_uncaught(env: sys::napi_env) {
    let mut error = ptr::null_mut();
    // SAFETY: an exception is pending on this env.
    if unsafe { sys::napi_get_and_clear_last_exception(env, &mut error) } == sys::Status::napi_ok {
        // SAFETY: `error` is the value just taken, in the open handle scope.
        unsafe { sys::napi_fatal_exception(env, error) };
    }
}

extern "C" fn on_close(handle: *mut c_void) {
    // SAFETY: `data` is the handle's first member; libuv calls this once,
    // after which the handle is no longer used.
    let data = unsafe { *(handle as *mut *mut Target) };
    // SAFETY: `data` is the box leaked in `Poll::new`, reclaimed only here;
    // `Drop` released what it held of the env.
    drop(unsafe { Box::from_raw(data) });
    // SAFETY: allocated with malloc in `Poll::new`; libuv is done with it.
    unsafe { libc::free(handle) };
}

/// Lets go of the callback's reference and the async context.
fn release(target: &Target) {
    // SAFETY: created in `Poll::new` on this env, deleted once.
    unsafe { sys::napi_delete_reference(target.env, target.callback) };
    // SAFETY: as above.
    unsafe { sys::napi_async_destroy(target.env, target.context) };
}

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(
            Status::from(status),
            "N-API call failed".to_owned(),
        ))
    }
}

fn uv_error(call: &str, code: c_int) -> Error {
    Error::new(
        Status::GenericFailure,
        format!(
            "{call} failed: {}",
            std::io::Error::from_raw_os_error(-code)
        ),
    )
}
