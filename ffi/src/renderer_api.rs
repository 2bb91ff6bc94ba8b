//! The renderer's half of the C API: connecting, sending, sync calls,
//! invokes, listeners, and receiving from a host's own loop.

use crate::raw::{
    self, CChannel, Out, UserData, bytes_arg, copy_into, into_handle, object, put_if_wanted,
    ringipc_bytes, str_arg,
};
use crate::status::{Failure, guard, guard_value, ringipc_status};
use crate::timeout;
use ringipc::{Invocation, IpcRenderer, IpcRendererEvent, ListenerId};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::{AsFd, AsRawFd};

/// This process's connection to main (Electron's `ipcRenderer`). Free it
/// with `ringipc_renderer_free`. Thread-safe: any number of threads may send
/// and block in sync calls at once.
#[derive(Debug)]
pub struct ringipc_renderer(IpcRenderer);

/// An invoke on its way: wait for its answer with `ringipc_invocation_wait`,
/// or drop it with `ringipc_invocation_free`. Owned by the caller; may be
/// waited for on any one thread.
#[derive(Debug)]
pub struct ringipc_invocation(Invocation);

/// What a renderer-side listener learns about one message. Borrowed: valid
/// only during the callback, and only on that thread.
pub struct ringipc_renderer_event {
    channel: CChannel,
    /// The library's channel name, alive for the callback (lifetime erased).
    name: *const str,
    sender_id: u32,
}

impl std::fmt::Debug for ringipc_renderer_event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ringipc_renderer_event")
            .field("sender_id", &self.sender_id)
            .finish_non_exhaustive()
    }
}

/// A message taken with `ringipc_renderer_recv`. Owned by the caller: free
/// it with `ringipc_message_free`.
#[repr(C)]
#[derive(Debug)]
pub struct ringipc_message {
    /// The channel, NUL-terminated (the NUL is not counted in `len`).
    pub channel: ringipc_bytes,
    /// The payload.
    pub payload: ringipc_bytes,
    /// The renderer that sent it through main, or 0 if main sent it.
    pub sender_id: u32,
}

/// Called for each message main sends on a channel: on the renderer's
/// receiver thread, in the order main sent them. `arg` holds `len` bytes,
/// valid during the call. Must return normally.
pub type ringipc_renderer_listener = Option<
    extern "C" fn(
        event: *mut ringipc_renderer_event,
        arg: *const u8,
        len: usize,
        user_data: *mut c_void,
    ),
>;

/// Connects to the main that spawned this process, from the invitation in
/// its environment. With `receiver_thread`, a thread runs listeners
/// registered with `ringipc_renderer_on`; without, listeners never run and
/// the host takes messages with `ringipc_renderer_recv`, waking on
/// `ringipc_renderer_fd`. Once per process.
///
/// # Safety
/// `out` points to writable memory for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_connect(
    receiver_thread: bool,
    out: *mut *mut ringipc_renderer,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let out = unsafe { Out::new(out, "out") }?;
        let ipc = match receiver_thread {
            true => IpcRenderer::from_env()?,
            false => IpcRenderer::from_env_without_receiver()?,
        };
        out.put(into_handle(ringipc_renderer(ipc)));
        Ok(())
    })
}

/// Disconnects from main and frees the handle; waits for the receiver
/// thread, so it must not be called from a listener, and a listener running
/// meanwhile must not use the handle. Invocations not yet waited for or
/// freed keep the connection (and the listeners' user data) until they are.
/// NULL is ignored.
///
/// # Safety
/// `ipc` is NULL or from `ringipc_renderer_connect`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_free(ipc: *mut ringipc_renderer) {
    // SAFETY: the caller gives back a handle it owns, once.
    unsafe { raw::free_handle(ipc) };
}

/// This renderer's id, as main's `ringipc_web_contents_id` gives it. 0 if
/// NULL.
///
/// # Safety
/// `ipc` is NULL or a live renderer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_id(ipc: *const ringipc_renderer) -> u32 {
    guard_value(0, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        Ok(ipc.0.id())
    })
}

/// Whether main is still there.
///
/// # Safety
/// `ipc` is NULL or a live renderer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_is_connected(ipc: *const ringipc_renderer) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        Ok(ipc.0.is_connected())
    })
}

/// Sends `len` bytes on `channel` (Electron's `ipcRenderer.send`); they are
/// copied. Blocks while the ring to main is full.
///
/// # Safety
/// `ipc` is a live renderer; `channel` a NUL-terminated UTF-8 string;
/// `data` holds `len` readable bytes (or `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_send(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    data: *const u8,
    len: usize,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { bytes_arg(data, len) }?;
        ipc.0.send(channel, value)?;
        Ok(())
    })
}

/// Sends `len` bytes on `channel` and waits up to `timeout_ms` (negative:
/// for ever) for main's return value (Electron's `ipcRenderer.sendSync`),
/// which goes to `*reply`, owned by the caller (`ringipc_bytes_free`).
///
/// # Safety
/// As for `ringipc_renderer_send`; `reply` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_send_sync(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    data: *const u8,
    len: usize,
    timeout_ms: i64,
    reply: *mut ringipc_bytes,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let reply = unsafe { Out::new(reply, "reply") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { bytes_arg(data, len) }?;
        let mut answer = Vec::new();
        ipc.0
            .send_sync_into(channel, value, &mut answer, timeout(timeout_ms))?;
        reply.put(ringipc_bytes::from_vec(answer));
        Ok(())
    })
}

thread_local! {
    /// The reply buffer `send_sync_into` reuses, so that a hot loop of
    /// calls allocates nothing.
    static REPLY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `ringipc_renderer_send_sync` into the caller's buffer of `capacity`
/// bytes: no allocation once warm. The reply's length goes to
/// `*reply_len`; if it is larger than `capacity`, nothing is copied and
/// the call fails with `RINGIPC_STATUS_BUFFER_TOO_SMALL` (the reply is
/// lost; `*reply_len` says how much room it needed).
///
/// # Safety
/// As for `ringipc_renderer_send`; `buffer` has `capacity` writable bytes;
/// `reply_len` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_send_sync_into(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    data: *const u8,
    len: usize,
    timeout_ms: i64,
    buffer: *mut u8,
    capacity: usize,
    reply_len: *mut usize,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let reply_len = unsafe { Out::new(reply_len, "reply_len") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { bytes_arg(data, len) }?;
        // Checked before the call: a reply with nowhere to go would be lost.
        if buffer.is_null() && capacity > 0 {
            return Err(Failure::invalid(format!(
                "buffer is NULL but capacity is {capacity}"
            )));
        }
        REPLY.with(|reply| {
            let mut reply = reply.borrow_mut();
            reply.clear();
            let called = ipc
                .0
                .send_sync_into(channel, value, &mut reply, timeout(timeout_ms));
            let copied = called.map_err(Failure::from).and_then(|()| {
                reply_len.put(reply.len());
                if reply.len() > capacity {
                    return Err(Failure::new(
                        ringipc_status::BufferTooSmall,
                        format!(
                            "the reply has {} bytes; the buffer holds {capacity}",
                            reply.len()
                        ),
                    ));
                }
                // SAFETY: the caller's contract: buffer has capacity bytes.
                unsafe { copy_into(buffer, capacity, &reply) }
            });
            // Whatever happened, one large reply must not pin its memory in
            // this thread.
            if reply.capacity() > KEPT_REPLY_CAPACITY {
                *reply = Vec::new();
            }
            copied
        })
    })
}

/// The largest reply buffer a thread keeps for its next `send_sync_into`.
const KEPT_REPLY_CAPACITY: usize = 1 << 20;

/// Calls main's handler for `channel` (Electron's `ipcRenderer.invoke`)
/// without waiting: the request is on its way when this returns, and
/// `*invocation` (owned by the caller) gives the answer.
///
/// # Safety
/// As for `ringipc_renderer_send`; `invocation` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_invoke(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    data: *const u8,
    len: usize,
    invocation: *mut *mut ringipc_invocation,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let out = unsafe { Out::new(invocation, "invocation") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { bytes_arg(data, len) }?;
        let pending = ipc.0.invoke(channel, value)?;
        out.put(into_handle(ringipc_invocation(pending)));
        Ok(())
    })
}

/// Waits up to `timeout_ms` (negative: for ever) for the invocation's
/// answer, which goes to `*answer` (owned by the caller). Always consumes
/// the invocation, even when it fails or times out: do not use or free it
/// afterwards. A handler's error comes back as
/// `RINGIPC_STATUS_HANDLER_FAILED` with its text in `ringipc_last_error`.
///
/// # Safety
/// `invocation` is from `ringipc_renderer_invoke`, not used afterwards;
/// `answer` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_invocation_wait(
    invocation: *mut ringipc_invocation,
    timeout_ms: i64,
    answer: *mut ringipc_bytes,
) -> ringipc_status {
    guard(|| {
        if invocation.is_null() {
            return Err(Failure::invalid("invocation is NULL"));
        }
        // SAFETY: a handle from into_handle, given back once, by contract.
        let pending = unsafe { Box::from_raw(invocation) }.0;
        // SAFETY: the caller's contract, passed on.
        let answer = unsafe { Out::new(answer, "answer") }?;
        let value = match timeout(timeout_ms) {
            None => pending.wait()?,
            Some(t) => pending.wait_timeout(t)?,
        };
        answer.put(ringipc_bytes::from_vec(value));
        Ok(())
    })
}

/// Drops an invocation without waiting; its answer is discarded when it
/// comes. NULL is ignored.
///
/// # Safety
/// `invocation` is NULL or from `ringipc_renderer_invoke`, not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_invocation_free(invocation: *mut ringipc_invocation) {
    // SAFETY: the caller gives back a handle it owns, once.
    unsafe { raw::free_handle(invocation) };
}

/// `on` and `once` for C.
///
/// # Safety
/// As for `ringipc_renderer_on`.
unsafe fn add_listener(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    listener: ringipc_renderer_listener,
    user_data: *mut c_void,
    free_user_data: raw::ringipc_free_fn,
    id_out: *mut u64,
    once: bool,
) -> ringipc_status {
    let user_data = UserData::new(user_data, free_user_data);
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        let listener = listener.ok_or_else(|| Failure::invalid("listener is NULL"))?;
        let f = move |event: &IpcRendererEvent<'_>, arg: &[u8]| {
            let mut c_event = ringipc_renderer_event {
                channel: CChannel::new(),
                name: std::ptr::from_ref(event.channel()),
                sender_id: event.sender_id().unwrap_or(0),
            };
            listener(&mut c_event, arg.as_ptr(), arg.len(), user_data.ptr());
        };
        let id = match once {
            false => ipc.0.on(channel, f)?,
            true => ipc.0.once(channel, f)?,
        };
        // SAFETY: NULL or writable, by contract.
        unsafe { put_if_wanted(id_out, id.to_raw()) };
        Ok(())
    })
}

/// Registers `listener` for messages main sends on `channel` (Electron's
/// `ipcRenderer.on`). Runs only with a receiver thread (see
/// `ringipc_renderer_connect`). `user_data`, `free_user_data` and `id_out`
/// as for `ringipc_main_on`.
///
/// # Safety
/// `ipc` is a live renderer; `channel` a NUL-terminated UTF-8 string;
/// `id_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_on(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    listener: ringipc_renderer_listener,
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

/// `ringipc_renderer_on` for the next message on `channel` only.
///
/// # Safety
/// As for `ringipc_renderer_on`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_once(
    ipc: *const ringipc_renderer,
    channel: *const c_char,
    listener: ringipc_renderer_listener,
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
/// `ipc` is a live renderer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_remove_listener(
    ipc: *const ringipc_renderer,
    id: u64,
) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        Ok(ipc.0.remove_listener(ListenerId::from_raw(id)))
    })
}

/// The channel the message arrived on, NUL-terminated; valid during the
/// callback. NULL if `event` is NULL.
///
/// # Safety
/// `event` is the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_event_channel(
    event: *mut ringipc_renderer_event,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { raw::object_mut(event, "event") }?;
        // SAFETY: `name` points to the library event's channel, alive until
        // the callback that got this event returns.
        let name = unsafe { &*event.name };
        Ok(event.channel.get(name))
    })
}

/// The renderer that sent the message through main (Electron's
/// `event.senderId`), or 0 if main sent it.
///
/// # Safety
/// `event` is the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_event_sender_id(
    event: *mut ringipc_renderer_event,
) -> u32 {
    guard_value(0, || {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object(event, "event") }?;
        Ok(event.sender_id)
    })
}

/// Takes the next message from main, waiting up to `timeout_ms` (0: only
/// what is there; negative: for ever), for a renderer connected without a
/// receiver thread. `RINGIPC_STATUS_TIMEOUT` if none came in time.
/// Handlers of main's invokes run inside this call.
///
/// # Safety
/// `ipc` is a live renderer; `message` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_recv(
    ipc: *const ringipc_renderer,
    timeout_ms: i64,
    message: *mut ringipc_message,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        // SAFETY: the caller's contract, passed on.
        let out = unsafe { Out::new(message, "message") }?;
        let received = match timeout(timeout_ms) {
            None => Some(ipc.0.recv()?),
            Some(t) => ipc.0.recv_timeout(t)?,
        };
        let Some(received) = received else {
            return Err(Failure::new(ringipc_status::Timeout, "no message in time"));
        };
        // A NUL is added for C, not counted in `len`. (A channel name may
        // itself hold a NUL if a Rust main sent it; `len` still counts it.)
        let mut channel = received.channel.into_bytes();
        let name_len = channel.len();
        channel.push(0);
        let mut channel = ringipc_bytes::from_vec(channel);
        channel.len = name_len;
        out.put(ringipc_message {
            channel,
            payload: ringipc_bytes::from_vec(received.payload),
            sender_id: received.sender_id.unwrap_or(0),
        });
        Ok(())
    })
}

/// Frees a message's channel and payload, and sets them to empty. NULL is
/// ignored.
///
/// # Safety
/// `message` is NULL or filled in by `ringipc_renderer_recv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_message_free(message: *mut ringipc_message) {
    guard_value((), || {
        // SAFETY: NULL or a message ringipc filled in, by contract.
        let Some(message) = (unsafe { message.as_mut() }) else {
            return Ok(());
        };
        // SAFETY: both were filled in by ringipc_renderer_recv.
        unsafe { raw::ringipc_bytes_free(&mut message.channel) };
        // SAFETY: as above.
        unsafe { raw::ringipc_bytes_free(&mut message.payload) };
        Ok(())
    })
}

/// The renderer's readiness descriptor: it polls readable when main has
/// sent something (for a renderer without a receiver thread). Owned by the
/// renderer (do not close it); valid until it is freed. -1 if NULL.
///
/// # Safety
/// `ipc` is NULL or a live renderer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_renderer_fd(ipc: *const ringipc_renderer) -> c_int {
    guard_value(-1, || {
        // SAFETY: the caller's contract, passed on.
        let ipc = unsafe { object(ipc, "ipc") }?;
        Ok(ipc.0.as_fd().as_raw_fd())
    })
}
