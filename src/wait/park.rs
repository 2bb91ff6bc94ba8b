//! Spin-then-park: how every blocking wait in ringipc waits for a condition
//! guarded by a [`Doorbell`].

use super::Doorbell;
use super::spin::{AdaptiveSpin, Spinning};
use std::time::{Duration, Instant};

/// The deadline `timeout` from now; `None` (no deadline) when it lies
/// beyond what an `Instant` can hold, as `Duration::MAX` does.
pub(crate) fn deadline_in(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Why [`wait_for`] returned without the condition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unmet {
    /// The deadline passed.
    Deadline,
    /// The peer's liveness check failed.
    PeerGone,
}

/// How long one futex sleep lasts before the waiter re-checks that its peer is
/// alive. Bounds how late a dead peer is noticed.
pub(super) const PARK_SLICE: Duration = Duration::from_millis(50);

/// [`PARK_SLICE`] for a sleeper in `poll` on its lifeline ([`super::Wake::PollSockets`]):
/// none, since the lifeline itself reports the peer's death.
pub(super) const POLL_PARK_SLICE: Duration = Duration::MAX;

/// Polls of `ready` before a wait reads the clock: most waits on a hot path
/// end within them, and on a VM a clock read costs about as much as the
/// cache-line transfer the wait is for.
const FIRST_BURST: usize = 64;

/// Spins on `ready` for the budget `spin` grants (none at all when it
/// [parks at once](AdaptiveSpin::parks_at_once)), then parks on `bell` in
/// slices of [`PARK_SLICE`] (unbounded for a `poll` sleeper) until `ready` yields a value, `deadline` passes,
/// or `peer_alive` says the other side is gone. The time the wait took
/// teaches `spin` for next time.
pub(crate) fn wait_for<T>(
    bell: &Doorbell,
    spin: &AdaptiveSpin,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
    peer_alive: impl FnMut() -> bool,
) -> Result<T, Unmet> {
    let parks_at_once = spin.parks_at_once();
    if !parks_at_once {
        for _ in 0..FIRST_BURST {
            if let Some(v) = ready() {
                spin.record_quick();
                return Ok(v);
            }
            std::hint::spin_loop();
        }
    }
    let start = Instant::now();
    let budget = spin.budget();
    if parks_at_once && spin.hands_over() {
        let got = hand_over(bell, &mut ready);
        let took = start.elapsed();
        spin.hand_over_went(got.is_some(), took);
        if let Some(v) = got {
            spin.record(budget, took);
            return Ok(v);
        }
    }
    let got = spin_then_park(bell, budget.spin, start, deadline, ready, peer_alive);
    if got.is_ok() {
        spin.record(budget, start.elapsed());
    }
    got
}

/// A caller that has just woken a peer asleep for long (a site that
/// [parks at once](AdaptiveSpin::parks_at_once)) yields its CPU once before
/// it parks, with a flag on `bell` that asks the peer to yield back once it
/// has notified it. The kernel tends to wake the peer on the waker's CPU,
/// where it runs only once the waker stops. A futex sleep would stop it,
/// and the answer's futex wake would bring it back: two trips through the
/// scheduler. Handed over, the caller is back as soon as main has answered
/// and yielded. Where the peer runs on another CPU or answers later, this
/// costs a system call or two before the park; where another thread holds
/// the CPU for a time slice, it costs that slice. The wait site notices
/// both and stops trying, but for a probe now and then
/// ([`AdaptiveSpin::hands_over`]).
#[cold]
fn hand_over<T>(bell: &Doorbell, ready: &mut impl FnMut() -> Option<T>) -> Option<T> {
    let handing = bell.hand_over();
    if let Some(v) = ready() {
        return Some(v);
    }
    std::thread::yield_now();
    drop(handing);
    ready()
}

fn spin_then_park<T>(
    bell: &Doorbell,
    spin: Duration,
    start: Instant,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
    peer_alive: impl FnMut() -> bool,
) -> Result<T, Unmet> {
    if !spin.is_zero() {
        let spin_until = deadline.map_or(start + spin, |d| d.min(start + spin));
        if let Some(v) = spin_until_time(spin_until, &mut ready) {
            return Ok(v);
        }
    }
    park(bell, deadline, ready, peer_alive)
}

/// Polls `ready` until `until`, yielding instead of spinning while this
/// process has more spinners than cores.
#[inline]
fn spin_until_time<T>(until: Instant, ready: &mut impl FnMut() -> Option<T>) -> Option<T> {
    let spinning = Spinning::enter();
    loop {
        // More spinners than cores: let the threads we wait for run.
        // A yield may run another thread for a whole time slice: look at the
        // clock after each one.
        let crowded = spinning.crowded();
        for _ in 0..if crowded { 1 } else { 64 } {
            if crowded {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            if let Some(v) = ready() {
                return Some(v);
            }
        }
        if Instant::now() >= until {
            return None;
        }
    }
}

/// Parks on `bell` in slices until `ready` yields a value, `deadline`
/// passes, or `peer_alive` says the peer is gone. The peer is asked after a
/// slice that timed out, and after every [`PARK_SLICE`] of parking however
/// the sleeps ended, so wakes that end them early (a signal's `EINTR`, a
/// neighbour's notification) cannot keep it from being asked.
fn park<T>(
    bell: &Doorbell,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
    mut peer_alive: impl FnMut() -> bool,
) -> Result<T, Unmet> {
    let mut asked = Instant::now();
    loop {
        let slice = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(bell.park_slice()),
                _ => return ready().ok_or(Unmet::Deadline),
            },
            None => bell.park_slice(),
        };
        let Some(prepared) = bell.prepare(slice) else {
            // Another thread of ours held the event all along; look again.
            if let Some(v) = ready() {
                return Ok(v);
            }
            continue;
        };
        if let Some(v) = ready() {
            bell.cancel(prepared);
            return Ok(v);
        }
        let timed_out = bell.sleep(prepared, slice);
        if let Some(v) = ready() {
            return Ok(v);
        }
        if timed_out || asked.elapsed() >= PARK_SLICE {
            if !peer_alive() {
                return Err(Unmet::PeerGone);
            }
            asked = Instant::now();
        }
    }
}
