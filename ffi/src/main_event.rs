//! `ringipc_main_event`: what main's listeners and handlers are told about
//! one message, and what they answer through it.

use crate::raw::{self, CChannel, object_mut, str_arg};
use crate::status::{Failure, guard, guard_value, ringipc_status};
use crate::web_contents::{borrowed, ringipc_web_contents};
use ringipc::IpcMainEvent;
use std::ffi::c_char;

/// What a listener or handler learns about one message. Borrowed: valid
/// only during the callback it was passed to, and only on that thread.
pub struct ringipc_main_event {
    /// The library's event, alive for the callback (lifetime erased here).
    event: *mut IpcMainEvent<'static>,
    channel: CChannel,
    /// A handler's answer, or `None` in a listener.
    answer: Option<HandlerAnswer>,
}

/// What a handler's callback set before it returned.
#[derive(Default)]
pub(crate) struct HandlerAnswer {
    value: Vec<u8>,
    set: bool,
    error: Option<String>,
}

impl std::fmt::Debug for ringipc_main_event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ringipc_main_event")
            .field("handler", &self.answer.is_some())
            .finish_non_exhaustive()
    }
}

impl ringipc_main_event {
    /// The C view of `event`, for a listener (`answer: false`) or a
    /// handler, whose answer is collected here rather than in `event`.
    pub(crate) fn new(event: &mut IpcMainEvent<'_>, answer: bool) -> ringipc_main_event {
        ringipc_main_event {
            event: std::ptr::from_mut(event).cast(),
            channel: CChannel::new(),
            answer: answer.then(HandlerAnswer::default),
        }
    }

    /// What a handler's callback set: its answer, or its error text.
    pub(crate) fn take_answer(&mut self) -> (Vec<u8>, Option<String>) {
        let answer = self.answer.take().unwrap_or_default();
        (answer.value, answer.error)
    }

    fn library_event(&mut self) -> &mut IpcMainEvent<'static> {
        // SAFETY: `event` points to the event the dispatcher passed to the
        // Rust closure that built this struct; both live until the C
        // callback returns, and C may use this struct only until then.
        unsafe { &mut *self.event }
    }

    /// The channel, NUL-terminated, valid during the callback.
    fn c_channel(&mut self) -> *const c_char {
        // SAFETY: as in `library_event`; the reference does not outlive
        // this call.
        let event = unsafe { &*self.event };
        self.channel.get(event.channel())
    }
}

/// The channel the message arrived on, NUL-terminated; valid during the
/// callback. NULL if `event` is NULL.
///
/// # Safety
/// `event` is the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_event_channel(
    event: *mut ringipc_main_event,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object_mut(event, "event") }?;
        Ok(event.c_channel())
    })
}

/// Whether the renderer is blocked in `send_sync` for this message.
///
/// # Safety
/// `event` is the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_event_is_sync(event: *mut ringipc_main_event) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object_mut(event, "event") }?;
        Ok(event.library_event().is_sync())
    })
}

/// The answer: a sync message's return value (Electron's
/// `event.returnValue = …`; ignored for an asynchronous message), or an
/// invoke's answer in a handler. The bytes are copied (a sync message's
/// value goes to the caller at once, as in Electron). The first value set
/// wins; returns whether this call set it.
///
/// # Safety
/// `event` is the event passed to the running callback; `data` holds `len`
/// readable bytes (or `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_event_set_return_value(
    event: *mut ringipc_main_event,
    data: *const u8,
    len: usize,
) -> bool {
    guard_value(false, || {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object_mut(event, "event") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { raw::bytes_arg(data, len) }?;
        Ok(match &mut event.answer {
            Some(answer) if answer.set => false,
            Some(answer) => {
                answer.value.extend_from_slice(value);
                answer.set = true;
                true
            }
            None => event.library_event().set_return_value(value),
        })
    })
}

/// In a handler: the error text the invoking renderer gets (copied) when
/// the handler returns nonzero. Fails with `RINGIPC_STATUS_WRONG_MODE` in a
/// listener.
///
/// # Safety
/// `event` is the event passed to the running callback; `message` is a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_event_set_error(
    event: *mut ringipc_main_event,
    message: *const c_char,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object_mut(event, "event") }?;
        // SAFETY: the caller's contract, passed on.
        let message = unsafe { str_arg(message, "message") }?;
        let Some(answer) = &mut event.answer else {
            return Err(Failure::new(
                ringipc_status::WrongMode,
                "only a handler's event carries an error",
            ));
        };
        answer.error = Some(message.to_owned());
        Ok(())
    })
}

/// The renderer that sent the message (Electron's `event.sender`),
/// borrowed for the callback; `ringipc_web_contents_clone` keeps it longer.
///
/// # Safety
/// `event` is the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_event_sender(
    event: *mut ringipc_main_event,
) -> *const ringipc_web_contents {
    guard_value(std::ptr::null(), || {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object_mut(event, "event") }?;
        Ok(borrowed(event.library_event().sender()))
    })
}

/// Sends a message back to the renderer that sent this one (Electron's
/// `event.reply`).
///
/// # Safety
/// `event` is the event passed to the running callback; `channel` a
/// NUL-terminated string; `data` holds `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_main_event_reply(
    event: *mut ringipc_main_event,
    channel: *const c_char,
    data: *const u8,
    len: usize,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let event = unsafe { object_mut(event, "event") }?;
        // SAFETY: the caller's contract, passed on.
        let channel = unsafe { str_arg(channel, "channel") }?;
        // SAFETY: the caller's contract, passed on.
        let value = unsafe { raw::bytes_arg(data, len) }?;
        event.library_event().reply(channel, value)?;
        Ok(())
    })
}
