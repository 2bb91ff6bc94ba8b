//! [`Shared`]: the state of a renderer's connection that its API, its
//! callers and its receiver share, and what each of them does when main
//! goes away.

use super::drain_turn::DrainTurn;
use super::event::{RendererHandler, RendererListener};
use super::replies::{Drained, Replies};
use crate::call_line::LineCaller;
use crate::error::Error;
use crate::listeners::Listeners;
use crate::os::epoll::Epoll;
use crate::os::lifeline;
use crate::ring::{Producer, ReadyHint};
use crate::wait::spin::AdaptiveSpin;
use crate::wait::{Doorbell, Unmet};
use crate::wire::record::Violation;
use parking_lot::Mutex;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The least a waiting thread spins before it parks: a reply that is already
/// on its way (a few hundred nanoseconds) is still caught without a wake-up.
pub(super) const MIN_SPIN: Duration = Duration::from_micros(2);
/// The most a `send_sync` caller, or a sender waiting for room, spins.
pub(super) const MAX_CALL_SPIN: Duration = Duration::from_micros(50);
/// The most the receiver thread spins after its last message.
pub(super) const MAX_RECEIVER_SPIN: Duration = Duration::from_micros(20);

/// The request ring's producer, and what `push` keeps beside it.
pub(super) struct Requests {
    pub producer: Producer,
    /// Sends since main's liveness was last asked, when no receiver thread
    /// watches the lifeline (`None` when one does).
    pub unchecked: Option<u32>,
}

/// Sends between two liveness checks of a renderer without a receiver
/// thread: one `poll` in this many sends, so that `send` fails soon after
/// main died even while the ring has room.
pub(super) const SENDS_PER_CHECK: u32 = 64;

/// Pumped mode's state: the batch `recv` hands out and how far, and whether
/// the reply.data flag is raised for a host waiting on the descriptor.
#[derive(Default)]
pub(super) struct Pumped {
    pub batch: Vec<u8>,
    pub at: usize,
    pub armed: bool,
}

/// The renderer's side of its connection; one per process.
pub(crate) struct Shared {
    pub(super) id: u32,
    /// Most payload bytes one message may have (main's setting).
    pub(super) max_message: usize,
    pub(super) requests: Mutex<Requests>,
    /// request.data: main's flag; we kick main's lifeline when it is raised.
    pub(super) request_data: Doorbell,
    /// request.space: we sleep here when our ring is full.
    pub(super) request_space: Doorbell,
    /// A `std` mutex, not `parking_lot`: the receiver thread and callers
    /// contend for it now and then, and parking_lot allocates its global wait
    /// table on a thread's first contended park, which would put an allocation
    /// on the hot path. std's futex mutex never allocates.
    pub(super) replies: std::sync::Mutex<Replies>,
    /// reply.data: the receiver thread sleeps here.
    pub(super) reply_data: Doorbell,
    /// reply.calls: `send_sync` callers sleep here.
    pub(super) reply_calls: Doorbell,
    /// reply.space: main's flag while it has an outbox for us.
    pub(super) reply_space: Doorbell,
    pub(super) reply_hint: ReadyHint,
    /// The call line, for small `send_sync`s (`None` under the `raw_sync`
    /// backend, whose doorbells need an event slot each).
    pub(super) line: Option<OnLine>,
    /// The request ring's position after this process's latest push: a call
    /// on the line follows every record before it.
    pub(super) pushed_to: AtomicU64,
    /// Spin budgets learned from how long replies, replies to calls that
    /// had to wake main, room in the request ring, and messages from main
    /// recently took to come.
    pub(super) call_spin: AdaptiveSpin,
    /// For waits that follow a wake (`AdaptiveSpin::after_a_wake`): a caller
    /// that woke main yields its core instead of spinning, so that main,
    /// which the kernel tends to wake on this very core, runs there without
    /// waiting for our spin to end.
    pub(super) woke_main_spin: AdaptiveSpin,
    pub(super) space_spin: AdaptiveSpin,
    pub(super) receiver_spin: AdaptiveSpin,
    /// Whose turn it is to drain the reply ring (shared with `Replies`).
    pub(super) turn: Arc<DrainTurn>,
    /// Main is gone (or broke the protocol). A plain flag, like `stopping`:
    /// no data is published through either, so both are Relaxed; waiters
    /// re-check them after waking.
    pub(super) closed: AtomicBool,
    pub(super) stopping: AtomicBool,
    pub(super) next_call: AtomicU64,
    pub(super) listeners: Listeners<RendererListener>,
    /// Handlers of main's `invoke`s, one per channel.
    pub(super) handlers: Listeners<RendererHandler>,
    /// Pumped mode: the batch being handed out by `recv`, and how far.
    pub(super) pumped: Mutex<Pumped>,
    /// The lifeline and the local wake socket in one descriptor, for a
    /// host that pumps (see `IpcRenderer::as_fd`).
    pub(super) epoll: Epoll,
    /// The local socket the receiver's doorbell is kicked through.
    pub(super) local_sleep: Arc<OwnedFd>,
    pub(super) unhandled: AtomicU64,
    pub(super) lifeline: Arc<OwnedFd>,
}

impl Shared {
    pub(super) fn alive(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && lifeline::peer_alive(&self.lifeline)
    }

    pub(super) fn lock_replies(&self) -> std::sync::MutexGuard<'_, Replies> {
        // A panic while holding it (a bug) leaves `Replies` consistent enough:
        // every method leaves it valid between statements.
        self.replies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that main is gone and wakes every thread waiting on it.
    #[cold]
    pub(super) fn close(&self) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            self.reply_data.wake();
            self.reply_calls.wake();
            self.request_space.wake();
            self.wake_futures();
        }
    }

    /// Wakes every future waiting for an answer, so that it sees the
    /// connection is over (main gone, or this renderer stopping).
    pub(super) fn wake_futures(&self) {
        let wakers = self.lock_replies().take_wakers();
        for w in wakers {
            w.wake();
        }
    }

    /// The caller's error for a wait that ended without its condition.
    pub(super) fn unmet(&self, unmet: Unmet) -> Error {
        match unmet {
            Unmet::Deadline => Error::Timeout,
            Unmet::PeerGone => {
                self.close();
                Error::Disconnected
            }
        }
    }

    /// After consuming from the reply ring: tell main about freed room if it
    /// waits for it, and wake the threads that records were routed to.
    pub(super) fn after_drain(&self, d: &mut Drained) {
        for waker in d.wakers.drain(..) {
            waker.wake();
        }
        self.reply_space.notify();
        if d.to_stash {
            self.turn.note_stashed();
            self.reply_calls.notify();
        }
        if d.to_inbox {
            self.turn.note_inbox();
            self.reply_data.notify();
        }
    }
}

/// The caller's error for bytes main sent that break the protocol.
pub(super) fn protocol(v: Violation) -> Error {
    Error::Protocol(v.to_string())
}

/// The call line as the renderer holds it.
pub(super) struct OnLine {
    /// Held by the thread whose call is on the line: `try_lock` only, so it
    /// never parks (and parking_lot never allocates its wait table for it).
    pub caller: Mutex<LineUse>,
    /// Where that thread sleeps for its answer; main rings it.
    pub bell: Doorbell,
}

pub(super) struct LineUse {
    pub line: LineCaller,
    /// The answer a call that gave up (timeout, main gone) still awaits:
    /// the line is busy until main has written it.
    pub abandoned: Option<u64>,
}

impl OnLine {
    pub fn new(line: LineCaller, bell: Doorbell) -> OnLine {
        OnLine {
            caller: Mutex::new(LineUse {
                line,
                abandoned: None,
            }),
            bell,
        }
    }
}
