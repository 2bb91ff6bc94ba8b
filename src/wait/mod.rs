//! Sleeping and waking across processes: the doorbell protocol, spin-then-park,
//! and the choice of backend.
//!
//! A [`Doorbell`] guards one condition ("the ring has data", "the ring has room").
//! The handshake, proven free of lost wake-ups by `model_tests`:
//!
//! ```text
//! waiter                                  notifier
//! sleepers += 1            (SeqCst)       publish data          (Release)
//! fence                    (SeqCst)       fence                 (SeqCst)
//! key = seq                (Acquire)      if sleepers != 0:
//! if condition: cancel, return              seq += 1            (Release)
//! sleep while seq == key                    wake sleepers on seq (see `Wake`)
//! sleepers -= 1
//! ```
//!
//! The two fences make sure that either the waiter's re-check sees the data or the
//! notifier sees the waiter. If the waiter read `key` after the notifier bumped
//! `seq`, that bump happened-before its re-check, which then sees the data; if it
//! read `key` before, the futex compare fails or the wake finds it asleep.
//!
//! Main never sleeps on a futex: its dispatcher multiplexes every renderer, so it
//! parks in an epoll set of the renderers' lifeline sockets, and renderers wake
//! it by writing a byte there ([`Wake::Kick`]). A renderer's receiver thread
//! parks the same way on its lifeline ([`Wake::PollSockets`]). The waiter-flag half of the
//! protocol is the same; the `seq`/`key` half is not needed there, because a
//! kick stays readable in the socket until the sleeper drains it, so a kick
//! that lands before the sleeper reaches `poll` still ends its sleep.

mod doorbell;
pub(crate) mod futex;
mod park;
pub(crate) mod raw_event;
pub(crate) mod spin;

pub(crate) use doorbell::{Doorbell, Wake};
pub(crate) use park::{Unmet, deadline_in, wait_for};

/// How renderers sleep and get woken.
///
/// Chosen by main in [`crate::Config`] and recorded in the segment header, so
/// both sides of a connection always agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitBackend {
    /// A shared Linux futex in the segment. No lock in shared memory; the default.
    #[default]
    Futex,
    /// A `raw_sync` process-shared event (pthread mutex + condvar) in the segment.
    /// Portable, but it trusts renderers: one that holds the event's mutex can
    /// stall main's wake-ups to it.
    RawSyncEvent,
}

impl WaitBackend {
    pub(crate) fn to_wire(self) -> u32 {
        match self {
            WaitBackend::Futex => 1,
            WaitBackend::RawSyncEvent => 2,
        }
    }

    pub(crate) fn from_wire(v: u32) -> Option<Self> {
        match v {
            1 => Some(WaitBackend::Futex),
            2 => Some(WaitBackend::RawSyncEvent),
            _ => None,
        }
    }
}
