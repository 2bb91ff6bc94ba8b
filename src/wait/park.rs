//! Spin-then-park: how every blocking wait in ringipc waits for a condition
//! guarded by a [`Doorbell`].

use super::Doorbell;
use super::spin::{AdaptiveSpin, HandOver, Spinning};
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

/// Spins on `ready` for the budget `spin` grants, then parks on `bell` in
/// slices of [`PARK_SLICE`] (unbounded for a `poll` sleeper) until `ready`
/// yields a value, `deadline` passes, or `peer_alive` says the other side
/// is gone. The time the wait took teaches `spin` for next time. A wait
/// right after this thread woke its peer hands its CPU over first instead
/// of spinning ([`hand_over_after_a_wake`]).
pub(crate) fn wait_for<T>(
    bell: &Doorbell,
    spin: &AdaptiveSpin,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
    peer_alive: impl FnMut() -> bool,
) -> Result<T, Unmet> {
    let after_a_wake = spin.follows_a_wake();
    if !after_a_wake {
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
    let handed = if after_a_wake {
        hand_over_after_a_wake(bell, spin, start, deadline, &mut ready)
    } else {
        None
    };
    let got = match handed {
        Some(v) => Ok(v),
        None => spin_then_park(bell, budget.spin, start, deadline, ready, peer_alive),
    };
    if got.is_ok() {
        spin.record(budget, start.elapsed());
    }
    got
}

/// A wait (begun at `start`) right after this thread woke its peer from a
/// sleep. The kernel tends to wake the peer on the waker's CPU, where it
/// runs only once the waker stops: a waiter that spun there would hold its
/// own answer back for the whole spin (measured: one cold call in five took
/// 130 µs instead of 20 while both sides spun in turn on one of two CPUs).
/// So the waiter hands its CPU over ([`hand_over`]), for up to the longest
/// spin the site allows whatever its recent waits took: where the peer was
/// woken on another CPU, a waiter that slept meanwhile would leave its own
/// CPU idle, and waking an idle CPU of a VM for the answer costs tens of
/// microseconds more (measured: a cold call's p99 fell from 120–140 to
/// 60–90 µs). Where another thread competes for the CPU, a yield gives
/// that thread the CPU instead, and the wait site learns to spin as other
/// waits do ([`AdaptiveSpin::hands_over`]): what is left of its budget,
/// counted from the wait's start, then it parks. (Parking at once then
/// measured worse with both CPUs busy: spinning keeps the CPU from the
/// other thread.) A deadline that cuts the hand-over short says nothing
/// about whether hand-overs pay, and is not counted.
fn hand_over_after_a_wake<T>(
    bell: &Doorbell,
    spin: &AdaptiveSpin,
    start: Instant,
    deadline: Option<Instant>,
    ready: &mut impl FnMut() -> Option<T>,
) -> Option<T> {
    let window_end = start + spin.longest_spin();
    let until = deadline.map_or(window_end, |d| d.min(window_end));
    if until <= start || !spin.hands_over() {
        return None;
    }
    let (got, went) = hand_over(bell, ready, until);
    if went != HandOver::Unanswered || until == window_end {
        spin.hand_over_went(went);
    }
    got
}

/// A yield that came back later than this without the answer gave the CPU
/// to another thread, not to the peer (which answers within microseconds
/// of running, and yields back). A guess that is sometimes wrong: the
/// peer may have run without answering yet (a long first round after its
/// sleep), or the VM's host may have taken the CPU (about one yield in
/// 8 000 on the VM measured, with nothing else runnable); either costs the
/// site a few hand-overs, not a wrong answer.
const YIELD_TO_ANOTHER: Duration = Duration::from_micros(20);

/// A yield that came back with the answer, but later than this, still
/// cost a time slice (Linux gives 0.75 ms or more) where a futex wake
/// would have preempted the thread that had the CPU. A cold call takes
/// 20–200 µs on the VM measured.
const YIELD_LOST_A_SLICE: Duration = Duration::from_micros(500);

/// Yields the CPU, with a flag raised on `bell` that asks the peer to
/// yield back once it has notified it, until `ready` yields a value,
/// `until` passes (after one yield at least), or a yield shows that
/// another thread competes for the CPU. Returns the value, if any, and
/// what the hand-over was worth. Where the peer runs on another CPU and
/// nothing else wants this one, each yield is a system call that returns
/// at once: a poll every microsecond or so.
#[cold]
fn hand_over<T>(
    bell: &Doorbell,
    ready: &mut impl FnMut() -> Option<T>,
    until: Instant,
) -> (Option<T>, HandOver) {
    let _handing = bell.hand_over();
    if let Some(v) = ready() {
        return (Some(v), HandOver::Paid);
    }
    // One clock read per yield: `ready` between two reads costs nothing
    // next to the system call.
    let mut before = Instant::now();
    loop {
        std::thread::yield_now();
        let after = Instant::now();
        let took = after - std::mem::replace(&mut before, after);
        if let Some(v) = ready() {
            let went = if took > YIELD_LOST_A_SLICE {
                HandOver::Contended
            } else {
                HandOver::Paid
            };
            return (Some(v), went);
        }
        if took > YIELD_TO_ANOTHER {
            return (None, HandOver::Contended);
        }
        if after >= until {
            return (None, HandOver::Unanswered);
        }
    }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::Wake;
    use crate::wire::layout::DoorbellWord;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A doorbell on a word in process memory, for two threads.
    fn bell() -> Arc<Doorbell> {
        let word = Arc::new(DoorbellWord::default());
        let at: *const DoorbellWord = &*word;
        // SAFETY: `word` lives as long as the doorbell, which owns it as its
        // backing.
        Arc::new(unsafe { Doorbell::new(at, Wake::FUTEX_ALL, word) })
    }

    #[test]
    fn only_a_wait_after_a_wake_hands_its_cpu_over() {
        let bell = bell();
        // `ready` answers once it finds the flag a notifier would find.
        let flag_seen = || bell.take_hand_over().then_some(());
        let after_wake = AdaptiveSpin::after_a_wake(Duration::from_secs(5));
        let deadline = deadline_in(Duration::from_secs(10));
        assert_eq!(
            wait_for(&bell, &after_wake, deadline, flag_seen, || true),
            Ok(())
        );
        assert!(!bell.take_hand_over(), "the flag is down once it returned");
        let other = AdaptiveSpin::new(Duration::from_micros(1), Duration::from_micros(50));
        let deadline = deadline_in(Duration::from_millis(20));
        assert_eq!(
            wait_for(&bell, &other, deadline, flag_seen, || true),
            Err(Unmet::Deadline)
        );
    }

    #[test]
    fn a_hand_over_ends_once_its_time_is_up() {
        let bell = bell();
        let mut looks = 0;
        let mut never = || {
            looks += 1;
            None::<()>
        };
        let (got, went) = hand_over(&bell, &mut never, Instant::now());
        assert_eq!(got, None);
        assert_ne!(went, HandOver::Paid);
        assert_eq!(looks, 2, "one look before the one yield, one after");
        assert!(!bell.take_hand_over(), "and the flag is down");
    }

    #[test]
    fn a_deadline_already_past_is_not_held_against_hand_overs() {
        let bell = bell();
        let spin = AdaptiveSpin::after_a_wake(Duration::from_micros(50));
        for _ in 0..20 {
            let deadline = Some(Instant::now());
            assert_eq!(
                wait_for(&bell, &spin, deadline, || None::<()>, || true),
                Err(Unmet::Deadline)
            );
        }
        assert!(spin.hands_over(), "no hand-over was tried, none missed");
    }

    #[test]
    fn an_unanswered_wait_after_a_wake_ends_asleep_and_the_notify_wakes_it() {
        let bell = bell();
        let spin = AdaptiveSpin::after_a_wake(Duration::from_micros(50));
        let answered = Arc::new(AtomicBool::new(false));
        let notifier = {
            let (bell, answered) = (bell.clone(), answered.clone());
            std::thread::spawn(move || {
                // Far past the 50 µs of handing over (which a yield to
                // another thread may end sooner: `a_hand_over_ends_…` checks
                // the time limit itself), far from the 50 ms after which a
                // sleeper looks again by itself.
                std::thread::sleep(Duration::from_millis(20));
                // SYNC(test): Release → Acquire in `ready` below.
                answered.store(true, Ordering::Release);
                bell.notify()
            })
        };
        let deadline = deadline_in(Duration::from_secs(10));
        // SYNC(test): Acquire ← Release in the notifier.
        let ready = || answered.load(Ordering::Acquire).then_some(());
        assert_eq!(wait_for(&bell, &spin, deadline, ready, || true), Ok(()));
        assert!(notifier.join().unwrap(), "the waiter was asleep when told");
        assert!(!bell.take_hand_over(), "with no flag left up");
    }
}
