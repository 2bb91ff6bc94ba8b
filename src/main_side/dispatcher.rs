//! The dispatcher: drains every renderer's request ring in turn, runs the
//! listeners, writes replies, and sleeps in `epoll_wait` on main's epoll set
//! (the renderers' lifelines and pidfds, the control socket, a deadline
//! timer) when there is nothing to do — on its own thread, or a host's.
//!
//! Fairness: each renderer gets at most [`BATCH`] records per round, and the
//! round starts one renderer later each time, so a renderer that floods its ring
//! delays the others by at most one batch of handler calls. A renderer that has
//! been quiet for a while is looked at only in the rounds that start with it
//! (one in as many as there are renderers), so that idle renderers add almost
//! nothing to the time an active one waits for its turn; once a further
//! batch was handled, in the next round, which looks at everyone; and before
//! main sleeps, which looks at everyone too (`arm`): one found ready then
//! gets the next round. A kick, a record, or a backlog to flush makes it
//! active again.

use super::doors::Doors;
use super::event::ReturnValue;
use super::handling::{Handling, Views};
use super::incoming::Incoming;
use super::shared::MainShared;
use super::slot::{QUIET_AFTER, Slot};
use crate::buffers::{ALWAYS_KEEP, Keeper};
use crate::os::epoll;
use crate::os::lifeline;
use crate::os::timer::Timer;
use crate::panics;
use crate::wire::fragment::Fed;
use crate::wire::record::{RecordHeader, Violation};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Records taken from one renderer before moving to the next.
const BATCH: usize = 64;
/// Times a renderer's ring may look ready to `arm` without a record being
/// handled before the look no longer keeps main awake.
const FALSE_ALARMS: u32 = 8;
/// Rounds of draining at shutdown, at most.
const SHUTDOWN_ROUNDS: usize = 1024;
/// The epoll tokens of the control socket and the deadline timer; a
/// renderer's lifeline is `id << 1`, its pidfd `id << 1 | 1` (ids start at 1).
const CONTROL: u64 = 0;
const TIMER: u64 = 1;

fn lifeline_token(r: &Incoming) -> u64 {
    u64::from(r.web_contents.id()) << 1
}

/// Longest sleep in `epoll_wait`; only bounds housekeeping, wake-ups come
/// from kicks and the deadline timer.
const PARK_TIMEOUT: Duration = Duration::from_secs(1);
/// While busy, how often lifelines are checked for dead renderers.
const LIVENESS_PERIOD: Duration = Duration::from_millis(10);
/// Rounds between clock readings when no record is handled; 64 handled
/// records count as many.
const CLOCK_EVERY: usize = 256;

pub(crate) struct Dispatcher {
    shared: Arc<MainShared>,
    slots: Vec<Slot>,
    /// Views of main's own listeners and handlers.
    views: Views,
    /// Reused buffer for the record being handled.
    body: Vec<u8>,
    ret: ReturnValue,
    /// Keeps an `invoke` answer's buffer warm for big answers (big request
    /// buffers are kept by their sender's slot).
    keeper: Keeper,
    /// The slot the next round starts at; 0 if it is not below the number
    /// of slots (the last round ended the rotation, or slots went away).
    round_start: usize,
    /// Records handled since the last round that skipped no one.
    handled_since_full_round: usize,
    /// The last round moved records from an outbox into a ring: the
    /// renderer is reading, so more room is coming; worth staying awake for.
    flushed_last_round: bool,
    /// Renderers' flags are raised (see `arm`).
    armed: bool,
    /// Fires at the next renderer deadline, mute's end or handshake
    /// deadline; in the epoll set.
    timer: Timer,
    /// Attach sockets and the handshakes in flight on them.
    doors: Doors,
    /// When `watch` last looked at the epoll set.
    last_watch: Instant,
    events: Vec<epoll::Event>,
}

/// The dispatcher thread's body.
pub(crate) fn run(mut d: Dispatcher) {
    d.run_until(None, false);
    d.shutdown();
}

impl Dispatcher {
    pub fn new(shared: Arc<MainShared>) -> std::io::Result<Dispatcher> {
        let timer = Timer::new()?;
        let epoll = &shared.epoll;
        epoll.add(
            shared.control.read_end.as_raw_fd(),
            epoll::READABLE,
            CONTROL,
        )?;
        epoll.add(timer.as_fd().as_raw_fd(), epoll::READABLE, TIMER)?;
        Ok(Dispatcher {
            views: Views::new(&shared.listeners, &shared.handlers),
            shared,
            slots: Vec::new(),
            body: Vec::with_capacity(4096),
            ret: ReturnValue::default(),
            keeper: Keeper::default(),
            round_start: 0,
            handled_since_full_round: 0,
            flushed_last_round: false,
            armed: false,
            timer,
            doors: Doors::default(),
            last_watch: Instant::now(),
            events: vec![epoll::no_event(); 64],
        })
    }

    /// Serves every renderer until main stops or `deadline` passes (checked
    /// whenever the loop reads the clock, so at least one round runs), or,
    /// with `first_work`, until a round handles something. Returns the
    /// records handled.
    pub fn run_until(&mut self, deadline: Option<Instant>, first_work: bool) -> usize {
        let spin = self.shared.config.dispatcher_spin;
        let mut total = 0;
        let mut idle_since: Option<Instant> = None;
        // Reading the clock every round would tax the hot path; instead every
        // round costs one unit and every handled record, which may have run a
        // slow listener, costs more.
        let mut until_clock = CLOCK_EVERY;
        let mut idle_rounds = 0u32;
        // Woken from a park and nothing handled since: if the first rounds
        // find nothing either (a kick without a record), park again at once
        // instead of spinning for it.
        let mut woke_idle = false;
        // Armed: main may have slept, its host waiting on the descriptor.
        let mut after_sleep = self.armed;
        // Renderers need not kick any more.
        self.disarm();
        while !self.shared.is_stopping() {
            if self.shared.control.waker().take_poke() {
                self.housekeeping();
            }
            let handled = match std::mem::take(&mut after_sleep) {
                true => self.first_round_after_sleep(),
                false => self.drain_all(),
            };
            total += handled;
            if first_work && handled > 0 {
                // The host calls again at once while work comes; deaths,
                // kicks and deadlines are still looked at on time.
                self.watch_if_due(Instant::now());
                break;
            }
            until_clock = until_clock.saturating_sub(1 + handled * CLOCK_EVERY / 64);
            if until_clock == 0 {
                until_clock = CLOCK_EVERY;
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) && self.may_return(total) {
                    break;
                }
                self.watch_if_due(now);
            }
            // Flushing an outbox counts as activity: a renderer reading a
            // long message frees room again within microseconds, and moving
            // it in at once beats parking until its kick wakes us.
            if handled > 0 || self.flushed_last_round {
                idle_since = None;
                idle_rounds = 0;
                woke_idle = false;
                continue;
            }
            // Idle: poll again at once, reading the clock only now and then
            // (it costs as much as a round), and park once `spin` has passed.
            idle_rounds += 1;
            // The first look comes after 64 rounds, not at once: a hot
            // caller's next request arrives within them, and a clock read
            // between two calls would sit on the round trip (the spin
            // below starts a few microseconds late for it). Just woken by
            // nothing, look at once, to park again at once; and for a host
            // with a deadline, which may be past already (`dispatch(ZERO)`
            // must not spin 63 rounds first).
            let first_look = u32::from(woke_idle || deadline.is_some());
            if idle_rounds % 64 != first_look {
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if now >= d && self.may_return(total) => break,
                Some(d) => d.saturating_duration_since(now),
                None => Duration::MAX,
            };
            match idle_since {
                None if !woke_idle => idle_since = Some(now),
                Some(t) if now - t < spin => {}
                _ => {
                    let handled = self.park(left);
                    total += handled;
                    idle_since = None;
                    idle_rounds = 0;
                    woke_idle = handled == 0;
                    if first_work && handled > 0 {
                        break;
                    }
                }
            }
        }
        total
    }

    /// While busy: looks for deaths, kicks and deadlines every
    /// [`LIVENESS_PERIOD`] (across calls, for a host that dispatches in short
    /// calls while a renderer floods).
    fn watch_if_due(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_watch) > LIVENESS_PERIOD {
            self.watch(Duration::ZERO);
        }
    }

    /// Adopts new renderers, drops disconnected ones, drains the control socket.
    fn housekeeping(&mut self) {
        lifeline::drain_kicks(&self.shared.control.read_end);
        let doors = std::mem::take(&mut *self.shared.doors.lock());
        for door in doors {
            self.doors.add(&self.shared.epoll, door);
        }
        let adopted = self.shared.control.take_pending();
        let max_message = self.shared.config.max_message_len as usize;
        for r in adopted {
            let epoll = &self.shared.epoll;
            let watched = epoll.add(r.lifeline.as_raw_fd(), epoll::READABLE, lifeline_token(&r));
            if let (Ok(()), Some(pidfd)) = (&watched, &r.pidfd) {
                let _ = epoll.add(pidfd.as_raw_fd(), epoll::READABLE, lifeline_token(&r) | 1);
            }
            if let Err(e) = watched {
                r.web_contents
                    .conn
                    .disconnect(format!("main cannot watch its lifeline: {e}"));
                continue;
            }
            if self.armed {
                r.web_contents
                    .conn
                    .may_hand_back
                    .store(true, Ordering::Relaxed);
                r.data_bell.set_waiting(true);
            }
            self.slots.push(Slot::new(r, max_message));
        }
        if self.slots.iter().any(|s| !s.r.web_contents.is_connected()) {
            // Dropping a slot closes our lifeline end (the renderer sees EOF) and
            // releases our reference to its mapping.
            let epoll = &self.shared.epoll;
            self.slots.retain(|s| {
                let keep = s.r.web_contents.is_connected();
                if !keep {
                    epoll.remove(s.r.lifeline.as_raw_fd());
                    if let Some(pidfd) = &s.r.pidfd {
                        epoll.remove(pidfd.as_raw_fd());
                    }
                }
                keep
            });
            self.shared.renderers.lock().retain(|w| w.is_connected());
        }
    }

    /// One round over the renderers (the quiet ones only on their turn):
    /// flushes outboxes, drains request rings. Returns the records handled.
    fn drain_all(&mut self) -> usize {
        let n = self.slots.len();
        // The slot this round starts at; each round starts one further.
        // No `%`: its division showed in the hot call's profile.
        let first = if self.round_start < n {
            self.round_start
        } else {
            0
        };
        // Skipping quiet renderers only pays while little is handled; once a
        // batch's worth was handled since everyone was last looked at, look at
        // everyone, so a renderer that speaks up waits one batch at most.
        let may_skip = self.handled_since_full_round < BATCH;
        let mut handled = 0;
        let mut flushed_any = false;
        for k in 0..n {
            let i = if first + k < n {
                first + k
            } else {
                first + k - n
            };
            let slot = &self.slots[i];
            let conn = &slot.r.web_contents.conn;
            let backlog = conn.queued.load(Ordering::Relaxed) != 0;
            // A quiet renderer is looked at when its turn starts the round,
            // and when a round looks at everyone; a look that would find
            // nothing costs a few loads, not a turn.
            if !backlog && slot.quiet >= QUIET_AFTER && ((may_skip && k != 0) || slot.looks_idle())
            {
                continue;
            }
            // Only a flush that moved something counts as work for a kick.
            let flushed = backlog && conn.flush();
            let h = self.drain(i);
            let slot = &mut self.slots[i];
            slot.quiet = if h > 0 {
                0
            } else {
                (slot.quiet + 1).min(QUIET_AFTER)
            };
            slot.judge_kick(h > 0 || flushed);
            if h > 0 {
                slot.false_alarms = 0;
            }
            handled += h;
            flushed_any |= flushed;
        }
        self.flushed_last_round = flushed_any;
        self.round_start = first + 1;
        self.handled_since_full_round = if may_skip {
            self.handled_since_full_round + handled
        } else {
            handled
        };
        handled
    }

    /// Handles up to [`BATCH`] records of slot `i`; returns how many.
    fn drain(&mut self, i: usize) -> usize {
        let mut handled = 0;
        let started_at = self.slots[i].r.consumer.position();
        // The largest return value this batch held, if any.
        let mut ret_used = None;
        while handled < BATCH {
            // A call on the call line goes in its place among the records:
            // after those its thread pushed before it, before the next.
            self.take_line(i);
            if self.serve_line(i) {
                handled += 1;
                continue;
            }
            let slot = &mut self.slots[i];
            if !slot.r.web_contents.is_connected() {
                break;
            }
            let header = match slot.next(&mut self.body) {
                Ok(Some(Fed::Whole(h))) => h,
                Ok(Some(Fed::Partial | Fed::Aborted)) => {
                    handled += 1;
                    continue;
                }
                Ok(None) => break,
                Err(reason) => {
                    slot.r.web_contents.conn.disconnect(reason);
                    break;
                }
            };
            handled += 1;
            let body_len = self.body.len();
            let result = self.handle(i, header);
            ret_used = ret_used.max(Some(self.ret.bytes.len()));
            if self.body.capacity() > ALWAYS_KEEP {
                // A big message's buffer goes back to its sender, charged
                // to it, for its next one.
                let big = std::mem::take(&mut self.body);
                self.slots[i].keep_warm(big, body_len);
            }
            if let Err(reason) = result {
                self.slots[i].r.web_contents.conn.disconnect(reason);
                break;
            }
        }
        // Past the batch too: records other threads keep pushing behind it
        // must not hold it back.
        self.take_line(i);
        if self.serve_line(i) {
            handled += 1;
        }
        let r = &self.slots[i].r;
        if r.consumer.position() != started_at {
            // The renderer may be asleep waiting for room we just freed.
            // (Calls on the line free none: a hot caller's round trip pays
            // no fence here.)
            r.space_bell.notify();
        }
        if let Some(used) = ret_used {
            self.keeper.used(&mut self.ret.bytes, used);
        }
        handled
    }

    /// Takes slot `i`'s request off the call line, if one was published
    /// and none is taken and unanswered (see `Connection::line_owed`).
    #[inline]
    fn take_line(&mut self, i: usize) {
        let r = &mut self.slots[i].r;
        let conn = &r.web_contents.conn;
        // SYNC(line_owed): Relaxed, see `Connection::answer_on_line`.
        if r.line_waiting.is_some() || conn.line_owed.load(Ordering::Relaxed) {
            return;
        }
        match r.line.take() {
            Ok(request) => r.line_waiting = request,
            Err(v) => conn.disconnect(format!("protocol violation: {v}")),
        }
    }

    /// Handles slot `i`'s request from the call line if every record the
    /// renderer pushed before it has been handled; returns whether it did.
    /// A renderer that lies about where those records end stalls only its
    /// own calls.
    #[inline]
    fn serve_line(&mut self, i: usize) -> bool {
        let slot = &mut self.slots[i];
        let r = &mut slot.r;
        let at = r.consumer.position();
        let Some(request) = r.line_waiting.take_if(|w| w.pos <= at) else {
            return false;
        };
        let conn = &r.web_contents.conn;
        if !r.web_contents.is_connected() {
            return false;
        }
        conn.line_owed.store(true, Ordering::Relaxed);
        slot.heard();
        if let Err(reason) = self.guarded(i, |handling, _| handling.handle_line(&request)) {
            self.slots[i].r.web_contents.conn.disconnect(reason);
        }
        true
    }

    /// Does what one whole request of slot `i` asks; `Err` with the reason
    /// to disconnect the renderer.
    #[inline]
    fn handle(&mut self, i: usize, header: RecordHeader) -> Result<(), String> {
        self.guarded(i, |handling, body| handling.handle(header, body))
    }

    /// Runs `f` on what handling one request of slot `i` needs (and the
    /// request body's buffer); `Err` with the reason to disconnect the
    /// renderer. Listeners run guarded on their own; this is a backstop so
    /// that a bug here costs one renderer, not the dispatcher.
    #[inline]
    fn guarded(
        &mut self,
        i: usize,
        f: impl FnOnce(Handling<'_>, &[u8]) -> Result<(), Violation>,
    ) -> Result<(), String> {
        let slot = &mut self.slots[i];
        let handling = Handling {
            shared: &self.shared,
            main: &mut self.views,
            own: &mut slot.own,
            ret: &mut self.ret,
            sender: &slot.r.web_contents,
        };
        let body = &self.body;
        match panics::guarded(|| f(handling, body)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(v)) => Err(format!("protocol violation: {v}")),
            Err(_) => Err("internal error in the dispatcher".into()),
        }
    }

    /// Sleeps until a renderer kicks, a lifeline closes, a deadline passes,
    /// or the control socket is poked. Returns how many records it handled
    /// on waking: what woke it is most likely a renderer's record, and its
    /// caller should not wait while kicks, deaths and timers are looked at
    /// (several system calls; 5 µs of a 35 µs cold call, measured).
    fn park(&mut self, at_most: Duration) -> usize {
        let mut handled = 0;
        if self.arm() {
            let n = self.wait_for_events(at_most.clamp(Duration::from_millis(1), PARK_TIMEOUT));
            self.disarm();
            handled = self.first_round_after_sleep();
            self.take_events(n);
        }
        self.disarm();
        handled
    }

    /// The round right after main may have slept (in [`Self::park`], or in
    /// its host's wait on the descriptor) looks at everyone: what woke main
    /// is most likely a request, and a quiet renderer's turn may be rounds
    /// away, while its caller, which may have handed its CPU to main
    /// (`wait::park::hand_over`), waits.
    fn first_round_after_sleep(&mut self) -> usize {
        self.handled_since_full_round = BATCH;
        self.drain_all()
    }

    /// Raises every renderer's "asleep, kick me" flag, then looks again: a
    /// renderer that published before it could see its flag will not kick.
    /// Returns `true` if all is quiet, the flags staying raised until
    /// [`Self::disarm`]; `false` (flags lowered) if something is ready.
    fn arm(&mut self) -> bool {
        if !self.armed {
            for s in &self.slots {
                // A caller that kicks main from here on may hand it its CPU
                // (even if main finds work below and never sleeps).
                let conn = &s.r.web_contents.conn;
                conn.may_hand_back.store(true, Ordering::Relaxed);
                s.r.data_bell.set_waiting(true);
            }
            self.armed = true;
        }
        let mut ready = self.shared.is_stopping() || self.shared.control.waker().is_poked();
        for s in &mut self.slots {
            // A commit word that keeps appearing and vanishing (a renderer
            // retracting it) must not keep main awake: after a few such
            // false alarms, only its records count, found on later rounds.
            if s.false_alarms < FALSE_ALARMS && (s.r.consumer.has_next() || s.r.line.has_request())
            {
                s.false_alarms += 1;
                // Looked at on the very next round, quiet or not: a quiet
                // renderer's turn may be many rounds away, and this one
                // published while main was awake, so it will not kick.
                s.quiet = 0;
                ready = true;
            }
        }
        if ready {
            self.disarm();
        } else {
            // Going quiet: no big message's buffers held while asleep for
            // long, nor at all by a hosted dispatcher, whose host may not
            // call again for a long time.
            let now = !self.shared.config.dispatcher_thread;
            for s in &mut self.slots {
                s.idle(now);
            }
            match now {
                true => self.ret.bytes = Vec::new(),
                false => self.keeper.idle(&mut self.ret.bytes),
            }
        }
        !ready
    }

    /// Lowers the flags [`Self::arm`] raised: renderers stop kicking.
    fn disarm(&mut self) {
        if std::mem::take(&mut self.armed) {
            for s in &self.slots {
                s.r.data_bell.set_waiting(false);
            }
        }
    }

    /// Whether a hosted `dispatch` whose deadline passed may return: yes
    /// after handling something (the host calls again); after handling
    /// nothing, only once every kick is taken and the flags are armed, so
    /// that the descriptor becomes readable when work arrives.
    fn may_return(&mut self, handled: usize) -> bool {
        if handled > 0 {
            return true;
        }
        self.watch(Duration::ZERO);
        // That watch may have taken a renderer's kick for room it freed:
        // what fits now goes now, or nobody would kick again (its ring is
        // empty, and it waits for us). Not counted as work, so the host's
        // deadline holds however long the renderer keeps reading: the
        // reply-space flag stays raised while an outbox holds anything, so
        // the renderer kicks again once it has read this.
        for s in &self.slots {
            let conn = &s.r.web_contents.conn;
            if conn.queued.load(Ordering::Relaxed) != 0 {
                conn.flush();
            }
        }
        self.arm()
    }

    /// Waits on main's epoll set (the control socket, the deadline timer,
    /// every lifeline and every renderer's pidfd) for up to `timeout`:
    /// takes kicks (a muted renderer's are left unread), disconnects
    /// renderers that died, closed their lifeline, or passed a deadline,
    /// and adopts or drops renderers as needed.
    fn watch(&mut self, timeout: Duration) {
        let n = self.wait_for_events(timeout);
        self.take_events(n);
    }

    /// Waits on main's epoll set for up to `timeout`; returns how many
    /// events there are for [`Self::take_events`].
    fn wait_for_events(&mut self, timeout: Duration) -> usize {
        self.shared.epoll.wait(&mut self.events, Some(timeout))
    }

    /// Takes the first `n` events [`Self::wait_for_events`] found, as
    /// [`Self::watch`] says.
    fn take_events(&mut self, n: usize) {
        self.last_watch = Instant::now();
        let mut control = false;
        for event in &self.events[..n] {
            // Copied out: the kernel's struct is packed.
            let token = event.u64;
            match token {
                CONTROL => control = true,
                TIMER => self.timer.clear(),
                token if Doors::owns(token) => {
                    let policy = self.shared.admission.read().clone();
                    self.doors.ready(token, &self.shared, &policy);
                }
                token => {
                    let (id, pidfd) = ((token >> 1) as u32, token & 1 == 1);
                    let Some(s) = self.slots.iter_mut().find(|s| s.r.web_contents.id() == id)
                    else {
                        continue;
                    };
                    let conn = &s.r.web_contents.conn;
                    if pidfd {
                        conn.disconnect("renderer exited (its process ended)".into());
                    } else {
                        s.note_kick();
                        if !lifeline::drain_kicks(&s.r.lifeline) {
                            let conn = &s.r.web_contents.conn;
                            conn.disconnect("renderer exited or closed its lifeline".into());
                        }
                    }
                }
            }
        }
        let now = Instant::now();
        let config = &self.shared.config;
        for s in &mut self.slots {
            if let Some(reason) = s.overdue(now, config) {
                s.r.web_contents.conn.disconnect(reason);
            }
            if s.r.segment.truncated() {
                let reason = "renderer truncated its shared segment".into();
                s.r.web_contents.conn.disconnect(reason);
            }
            // A muted renderer is watched for a hang-up only.
            let muted = s.muted(now);
            if muted == s.kicks_watched {
                s.kicks_watched = !muted;
                let events = if muted {
                    epoll::HANG_UP
                } else {
                    epoll::READABLE
                };
                let fd = s.r.lifeline.as_raw_fd();
                let _ = self.shared.epoll.modify(fd, events, lifeline_token(&s.r));
            }
        }
        if control || self.slots.iter().any(|s| !s.r.web_contents.is_connected()) {
            self.housekeeping();
        }
        self.doors.expire(now, &self.shared.epoll);
        let config = &self.shared.config;
        let next = self.slots.iter().filter_map(|s| s.next_event(config)).min();
        let next = next.into_iter().chain(self.doors.next_deadline()).min();
        self.timer.set(next);
    }

    pub fn shutdown(&mut self) {
        self.housekeeping();
        self.doors.close(&self.shared.epoll);
        // Handle what renderers sent before the stop, a bounded number of
        // rounds: one that keeps sending cannot hold main's exit. Every
        // round looks at everyone, the quiet too.
        for _ in 0..SHUTDOWN_ROUNDS {
            self.handled_since_full_round = BATCH;
            if self.drain_all() == 0 {
                break;
            }
        }
        for s in self.slots.drain(..) {
            s.r.web_contents.conn.disconnect("main shut down".into());
        }
        self.shared.renderers.lock().clear();
        // Every renderer has been told; nothing will call these again.
        self.shared.hooks.clear();
        // Leaves the descriptor readable for good: a host waiting on it
        // calls `dispatch` and learns that main shut down.
        self.shared.control.waker().wake();
    }
}

impl Drop for Dispatcher {
    /// Also on a panic that escaped the per-record backstop: every renderer
    /// still here is disconnected, which releases the connection's share of
    /// the lifeline so that the renderer sees EOF instead of a silent main.
    fn drop(&mut self) {
        self.doors.close(&self.shared.epoll);
        for s in &self.slots {
            s.r.web_contents
                .conn
                .disconnect("main's dispatcher stopped".into());
        }
    }
}
