//! What each renderer sent, counted by the dispatcher: [`Counters`] inside a
//! connection, [`RendererStats`] as [`crate::WebContents::stats`] hands it out.

use std::sync::atomic::{AtomicU64, Ordering};

/// Per-renderer traffic counters. The dispatcher is the only writer of the
/// first three, so it bumps them with a plain load and store.
#[derive(Default)]
pub(crate) struct Counters {
    pub messages: AtomicU64,
    pub sync_calls: AtomicU64,
    pub bytes: AtomicU64,
    /// Error replies (no listener, no value, panic, dropped responder).
    pub errors: AtomicU64,
    /// `send_to` messages main did not forward (policy, or no such renderer).
    pub refused: AtomicU64,
}

impl Counters {
    /// Counts one record from the renderer; dispatcher thread only.
    pub fn record(&self, sync: bool, bytes: usize) {
        let bump =
            |c: &AtomicU64, by: u64| c.store(c.load(Ordering::Relaxed) + by, Ordering::Relaxed);
        bump(
            if sync {
                &self.sync_calls
            } else {
                &self.messages
            },
            1,
        );
        bump(&self.bytes, bytes as u64);
    }
}

/// A snapshot of one renderer's traffic, from [`WebContents::stats`](crate::WebContents::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RendererStats {
    /// Asynchronous messages received from the renderer.
    pub messages: u64,
    /// Synchronous calls received from the renderer.
    pub sync_calls: u64,
    /// Payload bytes received (messages and calls).
    pub bytes_received: u64,
    /// Calls answered with an error (no listener, no value, a panic, a
    /// dropped responder).
    pub error_replies: u64,
    /// Messages that found no listener.
    pub unhandled_messages: u64,
    /// Ring bytes waiting in main's outbox for this renderer.
    pub queued_bytes: usize,
    /// Its `send_to` messages main did not forward.
    pub forwards_refused: u64,
    /// Heap bytes main holds on its behalf now (a message half received,
    /// its outbox, its forwarded messages waiting for their target),
    /// counted against [`crate::Config::memory_limit`].
    pub memory_held: usize,
}
