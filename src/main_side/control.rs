//! [`Control`]: how other threads hand new renderers to the dispatcher and
//! wake it.

use super::dispatcher_waker::DispatcherWaker;
use super::incoming::Incoming;
use crate::os::lifeline;
use parking_lot::Mutex;
use std::os::fd::OwnedFd;

/// Renderers spawned but not yet adopted by the dispatcher, and the socket
/// that wakes it.
pub(crate) struct Control {
    pending: Mutex<Vec<Incoming>>,
    waker: DispatcherWaker,
    /// The dispatcher polls it beside the lifelines.
    pub read_end: OwnedFd,
}

impl Control {
    pub fn new() -> std::io::Result<Control> {
        let (read_end, write_end) = lifeline::pair()?;
        Ok(Control {
            pending: Mutex::new(Vec::new()),
            waker: DispatcherWaker::new(write_end),
            read_end,
        })
    }

    /// Borrowed: the dispatcher looks at it every round, and a clone would
    /// cost its loop four locked instructions each time.
    pub fn waker(&self) -> &DispatcherWaker {
        &self.waker
    }

    /// Queues a renderer for the dispatcher to adopt, and wakes it.
    pub fn add(&self, renderer: Incoming) {
        self.pending.lock().push(renderer);
        self.waker.wake();
    }

    /// The renderers queued since the last call.
    pub fn take_pending(&self) -> Vec<Incoming> {
        std::mem::take(&mut *self.pending.lock())
    }
}
