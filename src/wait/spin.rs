//! How long to spin before parking: a budget learned from recent waits, and
//! backing off when this process has more spinning threads than cores.
//!
//! Spinning wins when the answer comes sooner than a wake-up would (tens of
//! microseconds on a VM), and only then: a handler that takes a millisecond
//! makes every microsecond of spin a microsecond stolen from the other side,
//! which on a 2-core machine may be the very thread we wait for. So each wait
//! site keeps a smoothed figure of how long its recent waits took. While that
//! is within reach of spinning, a wait spins up to the whole budget (the
//! ski-rental rule: spin for about what a park and wake would cost, so an odd
//! slow answer costs at most twice the optimum); once it is out of reach, a
//! wait spins only a token amount and parks. Every [`PROBE_EVERY`]th wait
//! spins the full budget, so that a peer that became fast again is noticed.
//!
//! None of this is synchronization: the figures are process-local hints, read
//! and written with `Relaxed` atomics, and a lost update only costs a guess.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Every this many waits, spin the full budget whatever was learned.
pub(crate) const PROBE_EVERY: u32 = 32;

/// A wait site's spin budget, learned from the waits it saw.
pub(crate) struct AdaptiveSpin {
    /// Smoothed duration of recent waits, in nanoseconds (1/4 weight to the newest).
    typical_ns: AtomicU64,
    waits: AtomicU32,
    /// Misses of the hand-overs in a row that did not pay (see
    /// `park::hand_over`), then the waits that skipped one since.
    hand_over_misses: AtomicU32,
    /// Once a site stopped handing over: every how many waits it tries
    /// again. Doubles while those tries meet contention.
    hand_over_probes: AtomicU32,
    min: Duration,
    max: Duration,
    /// Its waits come right after their thread woke the peer.
    after_a_wake: bool,
}

/// Misses in a row after which a site stops handing over, but for every
/// [`PROBE_EVERY`]th wait. A hand-over that found no answer within the
/// longest spin counts one (the peer answers later, or from elsewhere: a
/// host that answers from its own loop); one that met contention counts
/// half of them.
const HAND_OVER_MISSES: u32 = 8;
/// The longest interval between tries of a site that stopped handing
/// over: under lasting contention, one cold call in this many gives the
/// CPU to another thread, for up to a time slice.
const HAND_OVER_PROBES_MAX: u32 = 1024;

impl AdaptiveSpin {
    /// A budget between `min` and `max`, starting optimistic (at `max`).
    pub(crate) const fn new(min: Duration, max: Duration) -> AdaptiveSpin {
        AdaptiveSpin {
            typical_ns: AtomicU64::new(0),
            waits: AtomicU32::new(0),
            hand_over_misses: AtomicU32::new(0),
            hand_over_probes: AtomicU32::new(PROBE_EVERY),
            min,
            max,
            after_a_wake: false,
        }
    }

    /// A site whose waits come right after their thread woke the peer:
    /// they hand the CPU over rather than spin while [`Self::hands_over`]
    /// says it pays, for up to `max` (see `park::hand_over_after_a_wake`);
    /// when they spin instead, their budget has no minimum.
    pub(crate) const fn after_a_wake(max: Duration) -> AdaptiveSpin {
        AdaptiveSpin {
            after_a_wake: true,
            ..AdaptiveSpin::new(Duration::ZERO, max)
        }
    }

    /// Whether this site's waits come right after their thread woke the
    /// peer ([`Self::after_a_wake`]).
    #[inline]
    pub(crate) fn follows_a_wake(&self) -> bool {
        self.after_a_wake
    }

    /// The longest a wait at this site may spin (or hand its CPU over).
    pub(crate) fn longest_spin(&self) -> Duration {
        self.max
    }

    /// Whether a wait that [follows a wake](Self::follows_a_wake) should
    /// hand its CPU over: yes until hand-overs stop paying (the peer's
    /// answer comes later than the longest spin, or another thread competes
    /// for the CPU), then every [`PROBE_EVERY`]th time (less often while
    /// those tries meet contention), to notice when they pay again.
    pub(crate) fn hands_over(&self) -> bool {
        let misses = self.hand_over_misses.load(Ordering::Relaxed);
        if misses < HAND_OVER_MISSES {
            return true;
        }
        self.hand_over_misses
            .store(misses.wrapping_add(1), Ordering::Relaxed);
        misses % self.hand_over_probes.load(Ordering::Relaxed) == 0
    }

    /// Reports what a hand-over was worth.
    pub(crate) fn hand_over_went(&self, went: HandOver) {
        let misses = self.hand_over_misses.load(Ordering::Relaxed);
        let miss = match went {
            HandOver::Paid => {
                self.hand_over_probes.store(PROBE_EVERY, Ordering::Relaxed);
                return self.hand_over_misses.store(0, Ordering::Relaxed);
            }
            HandOver::Unanswered => 1,
            HandOver::Contended => {
                if misses >= HAND_OVER_MISSES {
                    // A try that met contention: try half as often.
                    let every = self.hand_over_probes.load(Ordering::Relaxed);
                    let every = (every * 2).min(HAND_OVER_PROBES_MAX);
                    self.hand_over_probes.store(every, Ordering::Relaxed);
                }
                HAND_OVER_MISSES / 2
            }
        };
        self.hand_over_misses
            .store(misses.wrapping_add(miss), Ordering::Relaxed);
    }

    /// How long the next wait should spin before it parks.
    pub(crate) fn budget(&self) -> Budget {
        let n = self.waits.fetch_add(1, Ordering::Relaxed);
        if n % PROBE_EVERY == 0 {
            return Budget {
                spin: self.max,
                probe: true,
            };
        }
        let typical = Duration::from_nanos(self.typical_ns.load(Ordering::Relaxed));
        let spin = if typical > self.max / 2 {
            // Spinning would not reach it: park almost at once.
            self.min
        } else {
            self.max
        };
        Budget { spin, probe: false }
    }

    /// Reports how long a wait took until its condition came true, parked or
    /// not. A probe that ended while still spinning resets the figure: a
    /// parked wait's time includes the wake-up, so averaging it with fast
    /// ones would keep the site parking long after its peer became fast.
    pub(crate) fn record(&self, budget: Budget, took: Duration) {
        let took_ns = took.as_nanos().min(u64::MAX as u128) as u64;
        let new = if budget.probe && took <= budget.spin {
            took_ns
        } else {
            let old = self.typical_ns.load(Ordering::Relaxed);
            old - old / 4 + took_ns / 4
        };
        self.typical_ns.store(new, Ordering::Relaxed);
    }

    /// Reports a wait that ended before it asked for a budget.
    pub(crate) fn record_quick(&self) {
        let old = self.typical_ns.load(Ordering::Relaxed);
        self.typical_ns.store(old - old / 4, Ordering::Relaxed);
    }
}

/// What one hand-over (`park::hand_over`) was worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandOver {
    /// The answer came, and no other thread took the CPU for long.
    Paid,
    /// The longest spin ran out first.
    Unanswered,
    /// A yield gave the CPU to another thread, for a while.
    Contended,
}

/// What [`AdaptiveSpin::budget`] granted one wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    pub spin: Duration,
    /// A full-length spin to re-learn, whatever the figure says.
    pub probe: bool,
}

/// Threads of this process spinning in [`super::wait_for`] right now.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// Marks the current thread as spinning while it lives.
pub(crate) struct Spinning(());

impl Spinning {
    pub(crate) fn enter() -> Spinning {
        SPINNING.fetch_add(1, Ordering::Relaxed);
        Spinning(())
    }

    /// True when more threads spin than there are cores to run them: spinning
    /// then only delays the threads that would make progress, so yield.
    pub(crate) fn crowded(&self) -> bool {
        SPINNING.load(Ordering::Relaxed) > cores()
    }
}

impl Drop for Spinning {
    fn drop(&mut self) {
        SPINNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Looks up what spinning needs once, at start-up: the lookup allocates, and
/// must not land in the first wait that spins past its first burst, which may
/// be deep in a hot loop (`tests/no_alloc.rs` caught that under load).
pub(crate) fn prepare() {
    cores();
}

/// Cores this process may run on, looked up once (the lookup allocates).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_micros(1);
    const MAX: Duration = Duration::from_micros(50);

    /// Runs `n` waits that each take `took`, as `wait_for` reports them.
    fn waits(spin: &AdaptiveSpin, n: usize, took: Duration) {
        for _ in 0..n {
            let b = spin.budget();
            spin.record(b, took);
        }
    }

    fn spins(spin: &AdaptiveSpin, n: usize) -> Vec<Duration> {
        (0..n).map(|_| spin.budget().spin).collect()
    }

    #[test]
    fn hand_overs_stop_once_they_miss_and_are_probed_now_and_then() {
        let spin = AdaptiveSpin::after_a_wake(MAX);
        for _ in 0..10 {
            assert!(spin.hands_over());
            spin.hand_over_went(HandOver::Paid);
        }
        // Misses without an answer, as many as may come now and then...
        for _ in 0..HAND_OVER_MISSES - 1 {
            assert!(spin.hands_over());
            spin.hand_over_went(HandOver::Unanswered);
        }
        // ...then one that met contention.
        assert!(spin.hands_over());
        spin.hand_over_went(HandOver::Contended);
        let tried: Vec<bool> = (0..3 * PROBE_EVERY).map(|_| spin.hands_over()).collect();
        assert_eq!(tried.iter().filter(|&&t| t).count(), 3, "{tried:?}");
        // A probe that pays brings hand-overs back.
        let probe = (0..=PROBE_EVERY).find(|_| spin.hands_over());
        assert!(probe.is_some());
        spin.hand_over_went(HandOver::Paid);
        assert!((0..5).all(|_| spin.hands_over()));
        // Contention twice in a row is enough to stop.
        for _ in 0..2 {
            assert!(spin.hands_over());
            spin.hand_over_went(HandOver::Contended);
        }
        assert!(!spin.hands_over());
        // Tries that keep meeting contention come ever more rarely, down
        // to one in HAND_OVER_PROBES_MAX.
        let mut gaps = Vec::new();
        for _ in 0..8 {
            let gap = (1..=2 * HAND_OVER_PROBES_MAX)
                .find(|_| spin.hands_over())
                .unwrap();
            spin.hand_over_went(HandOver::Contended);
            gaps.push(gap);
        }
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert!(gaps[7] > HAND_OVER_PROBES_MAX / 2, "{gaps:?}");
        assert!(gaps[7] <= HAND_OVER_PROBES_MAX, "{gaps:?}");
    }

    #[test]
    fn fast_replies_keep_the_whole_budget_as_insurance() {
        let spin = AdaptiveSpin::new(MIN, MAX);
        waits(&spin, 40, Duration::from_micros(3));
        assert!(
            spins(&spin, 2 * PROBE_EVERY as usize)
                .iter()
                .all(|&d| d == MAX)
        );
    }

    #[test]
    fn slow_replies_make_it_park_almost_at_once() {
        let spin = AdaptiveSpin::new(MIN, MAX);
        waits(&spin, 40, Duration::from_millis(2));
        let s = spins(&spin, PROBE_EVERY as usize);
        assert_eq!(s.iter().filter(|&&d| d == MIN).count(), s.len() - 1);
    }

    #[test]
    fn one_fast_probe_is_enough_to_spin_again() {
        let spin = AdaptiveSpin::new(MIN, MAX);
        waits(&spin, 40, Duration::from_millis(2));
        // Parked waits keep reporting wake-up latency, far above spin reach...
        let mut n = 40;
        loop {
            let b = spin.budget();
            n += 1;
            if b.probe {
                // ...until a probe finds the answer within its spin.
                spin.record(b, Duration::from_micros(3));
                break;
            }
            assert_eq!(b.spin, MIN, "wait {n}");
            spin.record(b, Duration::from_micros(80));
        }
        assert_eq!(spin.budget().spin, MAX);
    }

    #[test]
    fn quick_waits_pull_the_figure_down() {
        let spin = AdaptiveSpin::new(MIN, MAX);
        waits(&spin, 40, Duration::from_millis(2));
        for _ in 0..40 {
            spin.record_quick();
        }
        spin.budget(); // whatever this one is, the figure is low now
        assert_eq!(spin.budget().spin, MAX);
    }

    #[test]
    fn a_site_after_a_wake_spins_nothing_when_slow_except_for_probes() {
        let spin = AdaptiveSpin::after_a_wake(MAX);
        assert!(spin.follows_a_wake());
        spin.budget(); // the first wait is a probe
        assert_eq!(spin.budget().spin, MAX, "starts optimistic");
        waits(&spin, 40, Duration::from_millis(2));
        let s = spins(&spin, PROBE_EVERY as usize);
        assert_eq!(s.iter().filter(|d| d.is_zero()).count(), s.len() - 1);
        assert!(!AdaptiveSpin::new(Duration::ZERO, MAX).follows_a_wake());
    }
}
