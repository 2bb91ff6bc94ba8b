//! [`Slot`]: one renderer as the dispatcher tracks it — its incoming half,
//! its message in progress (charged to main's memory budget, under a
//! deadline), how quiet it has been, and what its kicks are worth.
//!
//! Kicks: a renderer kicks main's lifeline only after publishing a record
//! (or freeing room main waits for), so a kick that brings no work is a
//! renderer wasting main's time. After [`EMPTY_KICKS`] of them in a row its
//! kicks are ignored for a while (1 ms, doubling to [`MAX_MUTE`]): main then
//! finds its records on its own rounds, and a renderer that only kicks costs
//! main a few wake-ups a second.

use super::budget::Charge;
use super::config::Config;
use super::handling::Views;
use super::incoming::Incoming;
use crate::buffers::{ALWAYS_KEEP, Keeper};
use crate::os::lifeline;
use crate::ring::Consumer;
use crate::wire::fragment::{Fed, Reassembly};
use crate::wire::record::Violation;
use std::time::{Duration, Instant};

/// Rounds without a record after which a renderer counts as quiet.
pub(super) const QUIET_AFTER: u32 = 1024;
/// Kicks in a row that brought no work before a renderer's kicks are muted.
const EMPTY_KICKS: u32 = 16;
/// The first and the longest time a renderer's kicks are ignored.
const FIRST_MUTE: Duration = Duration::from_millis(1);
const MAX_MUTE: Duration = Duration::from_millis(100);

pub(super) struct Slot {
    pub r: Incoming,
    /// Rounds since its last record, up to [`QUIET_AFTER`].
    pub quiet: u32,
    /// Views of the listeners and handlers registered on its `WebContents`.
    pub own: Views,
    /// Its message in progress, when one arrives in fragments.
    reassembly: Reassembly,
    /// What that message, and `warm`, hold of main's memory budget.
    charge: Charge,
    /// A big buffer one of its messages left, kept (and charged to it) for
    /// its next fragmented message while big ones keep coming.
    warm: Vec<u8>,
    keeper: Keeper,
    /// When the message in progress last grew.
    partial_since: Option<Instant>,
    /// When the dispatcher adopted it, and whether it has been heard from
    /// since (a kick or a record): a spawned process that never connects is
    /// cut off after `Config::connect_timeout`.
    adopted: Instant,
    heard: bool,
    /// Its lifeline was readable at the last `poll`; judged after its turn.
    kicked: bool,
    empty_kicks: u32,
    mute: Duration,
    muted_until: Option<Instant>,
    /// Main's epoll set reports its lifeline's kicks (not muted).
    pub kicks_watched: bool,
    /// Times its ring looked ready when main was about to sleep, since a
    /// record of it was last handled.
    pub false_alarms: u32,
}

impl Slot {
    pub fn new(r: Incoming, max_message: usize) -> Slot {
        let conn = &r.web_contents.conn;
        Slot {
            own: Views::new(&conn.listeners, &conn.handlers),
            charge: conn.account.charge(),
            reassembly: Reassembly::new(max_message),
            warm: Vec::new(),
            keeper: Keeper::default(),
            r,
            quiet: 0,
            partial_since: None,
            adopted: Instant::now(),
            heard: false,
            kicked: false,
            empty_kicks: 0,
            mute: FIRST_MUTE,
            muted_until: None,
            kicks_watched: true,
            false_alarms: 0,
        }
    }

    /// The next record in its ring: a whole request (into `body`), a
    /// fragment kept or an aborted message; `Ok(None)` when there is none
    /// yet; `Err` with the reason to disconnect it.
    #[inline]
    pub fn next(&mut self, body: &mut Vec<u8>) -> Result<Option<Fed>, String> {
        if self.reassembly.in_progress() {
            return self.next_continuation(body);
        }
        let Some(h) = self.r.consumer.pop(body).map_err(ring_violation)? else {
            return Ok(None);
        };
        self.heard = true;
        if h.flags == 0 {
            return Ok(Some(Fed::Whole(h)));
        }
        if self.warm.capacity() > 0 {
            // Its message begins in its own warm buffer; the dispatcher's
            // stays with the dispatcher.
            self.warm.clear();
            self.warm.extend_from_slice(body);
            std::mem::swap(body, &mut self.warm);
        } else if self.charge.set(body.capacity()).is_err() {
            // The message takes the dispatcher's buffer, which other
            // renderers' messages may have grown (up to `ALWAYS_KEEP`), and
            // which would take this renderer past its share: its message
            // begins in a buffer of its own size instead (a 32 KiB call
            // begins a reassembly). Not always: a buffer that is reused
            // saves an echo of 64 KiB a microsecond.
            body.shrink_to_fit();
        }
        let fed = self.under_charge(|reassembly, _, mut allow| {
            reassembly.feed_within(h, body, &mut allow).map(Some)
        });
        if body.capacity() == 0 {
            // The message took it: the dispatcher gets its own back.
            std::mem::swap(body, &mut self.warm);
        }
        fed
    }

    /// Whether a turn now would find nothing to do: no record in its ring
    /// (as `Consumer::pop` would see it), no request on its call line taken
    /// or waiting, no message in progress. A few loads, where a turn that
    /// finds nothing costs tens of nanoseconds.
    #[inline]
    pub fn looks_idle(&self) -> bool {
        !self.reassembly.in_progress()
            && self.r.line_waiting.is_none()
            && !self.r.line.has_request()
            && !self.r.consumer.has_next()
    }

    /// Notes that it was heard from (a request on its call line).
    pub fn heard(&mut self) {
        self.heard = true;
    }

    /// Takes back a buffer one of its messages grew (`used` bytes of it),
    /// to keep warm for its next big one, if its share of main's memory
    /// allows, and unless the message needed little of it.
    pub fn keep_warm(&mut self, mut buf: Vec<u8>, used: usize) {
        self.keeper.used(&mut buf, used);
        if buf.capacity() <= ALWAYS_KEEP {
            return;
        }
        let held = self.reassembly.held();
        if self.charge.set(held + buf.capacity()).is_ok() {
            self.warm = buf;
        } else {
            let _ = self.charge.set(held + self.warm.capacity());
        }
    }

    /// Main is going quiet: lets go of a warm buffer no big message used
    /// lately, or at once when `now`.
    pub fn idle(&mut self, now: bool) {
        if self.warm.capacity() == 0 {
            return;
        }
        match now {
            true => self.warm = Vec::new(),
            false => self.keeper.idle(&mut self.warm),
        }
        let _ = self
            .charge
            .set(self.reassembly.held() + self.warm.capacity());
    }

    /// The next record of a message in progress, copied straight into it.
    #[cold]
    fn next_continuation(&mut self, body: &mut Vec<u8>) -> Result<Option<Fed>, String> {
        let fed = self.under_charge(|reassembly, consumer, mut allow| {
            consumer.pop_continuation(reassembly, body, &mut allow)
        })?;
        self.heard |= fed.is_some();
        Ok(fed)
    }

    /// Runs one reassembly step with this renderer's charge deciding how
    /// much the message may hold; turns a refusal into the reason to
    /// disconnect, and keeps the charge and the no-progress deadline up to
    /// date.
    #[cold]
    fn under_charge(
        &mut self,
        step: impl FnOnce(
            &mut Reassembly,
            &mut Consumer,
            &mut dyn FnMut(usize) -> bool,
        ) -> Result<Option<Fed>, Violation>,
    ) -> Result<Option<Fed>, String> {
        let mut refused = None;
        let charge = &mut self.charge;
        let mut allow = |bytes: usize| match charge.set(bytes) {
            Ok(()) => true,
            Err(e) => {
                refused = Some(e);
                false
            }
        };
        let fed = step(&mut self.reassembly, &mut self.r.consumer, &mut allow);
        let fed = match (fed, refused) {
            (Err(Violation::Refused), Some(over)) => return Err(over.to_string()),
            (Err(Violation::Refused), None) => {
                return Err("memory: the allocator refused a message's room".into());
            }
            (fed, _) => fed.map_err(ring_violation)?,
        };
        if fed.is_none() {
            // Nothing arrived: no progress, so the deadline keeps running.
            return Ok(None);
        }
        // What the message holds now (none once it is whole: the body then
        // moves to the dispatcher, which handles it at once), and `warm`.
        let _ = self
            .charge
            .set(self.reassembly.held() + self.warm.capacity());
        // A deadline on progress: every fragment restarts it.
        self.partial_since = self.reassembly.in_progress().then(Instant::now);
        Ok(fed)
    }

    /// Its lifeline was readable at a `poll`.
    pub fn note_kick(&mut self) {
        self.heard = true;
        // It has opened its segment: a name has served its purpose.
        if let Some(mut name) = self.r.name.take() {
            name.unlink();
        }
        self.kicked = true;
        // A kick: its ring is worth a look on the very next round.
        self.quiet = 0;
    }

    /// After its turn in a round: whether a kick since the last turn brought
    /// work (`worked`: records handled or an outbox flushed), and if kicks
    /// keep bringing none, mute them.
    pub fn judge_kick(&mut self, worked: bool) {
        if worked {
            self.empty_kicks = 0;
            self.mute = FIRST_MUTE;
        }
        if !std::mem::take(&mut self.kicked) || worked {
            return;
        }
        self.empty_kicks += 1;
        if self.empty_kicks >= EMPTY_KICKS {
            self.empty_kicks = 0;
            self.muted_until = Some(Instant::now() + self.mute);
            self.mute = (self.mute * 2).min(MAX_MUTE);
        }
    }

    /// Whether main should ignore its kicks at `now`.
    pub fn muted(&mut self, now: Instant) -> bool {
        match self.muted_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.muted_until = None;
                false
            }
            None => false,
        }
    }

    /// The reason to cut it off at `now`, if a deadline passed: it never
    /// connected, or left a message half sent.
    pub fn overdue(&self, now: Instant, config: &Config) -> Option<String> {
        if !self.heard
            && now.duration_since(self.adopted) > config.connect_timeout
            && !lifeline::has_kicks(&self.r.lifeline)
        {
            return Some(format!(
                "renderer did not connect within {:?} of being spawned",
                config.connect_timeout
            ));
        }
        let since = self.partial_since?;
        // Its next fragment may be waiting for main itself (a slow listener,
        // a host that did not dispatch): that is no fault of the renderer.
        let stalled = now.duration_since(since) > config.partial_message_timeout
            && !self.r.consumer.has_next();
        stalled.then(|| {
            format!(
                "a message left half sent, no progress for over {:?}",
                config.partial_message_timeout
            )
        })
    }

    /// The soonest moment a deadline or a mute of this slot ends, for the
    /// dispatcher's sleep.
    pub fn next_event(&self, config: &Config) -> Option<Instant> {
        let connect = (!self.heard)
            .then(|| self.adopted.checked_add(config.connect_timeout))
            .flatten();
        let partial = self
            .partial_since
            .and_then(|t| t.checked_add(config.partial_message_timeout));
        [connect, partial, self.muted_until]
            .into_iter()
            .flatten()
            .min()
    }
}

fn ring_violation(v: Violation) -> String {
    format!("protocol violation on the request ring: {v}")
}
