//! The dispatcher thread: drains every renderer's request ring in turn, runs the
//! listeners, writes replies, and sleeps in `poll` on the renderers' lifelines
//! when there is nothing to do.
//!
//! Fairness: each renderer gets at most [`BATCH`] records per round, and the
//! round starts one renderer later each time, so a renderer that floods its ring
//! delays the others by at most one batch of handler calls. A renderer that has
//! been quiet for a while is looked at less often (see [`QUIET_STRIDE`]), but
//! never after more than one further batch was handled.

use super::event::{IpcMainEvent, ReturnValue, send_reply};
use super::web_contents::Connection;
use super::{MainHandler, MainListener, MainShared, WebContents};
use crate::error::RemoteFailure;
use crate::fragment::{Fed, Reassembly};
use crate::lifeline;
use crate::listeners::{Entry, Listeners, Snapshot};
use crate::record::{Asks, Kind, RecordHeader, Request, Violation};
use crate::ring::Consumer;
use crate::segment::Mapping;
use crate::wait::Doorbell;
use parking_lot::Mutex;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Records taken from one renderer before moving to the next.
const BATCH: usize = 64;
/// Rounds of draining at shutdown, at most.
const SHUTDOWN_ROUNDS: usize = 1024;
/// Capacity of the record buffer kept between messages.
const BODY_KEEP: usize = 1 << 20;
/// Rounds without a record after which a renderer counts as quiet.
const QUIET_AFTER: u32 = 1024;
/// A quiet renderer's ring is looked at every this many rounds (staggered
/// across renderers), so that many idle renderers add little to the time an
/// active one waits for its turn; a kick, a record, or a backlog to flush
/// makes it active again. Once [`BATCH`] records were handled since the last
/// round that looked at everyone, the next one does.
const QUIET_STRIDE: usize = 8;
/// Longest sleep in `poll`; only bounds housekeeping, wake-ups come from kicks.
const PARK_TIMEOUT_MS: libc::c_int = 1000;
/// While busy, how often lifelines are checked for dead renderers.
const LIVENESS_PERIOD: Duration = Duration::from_millis(10);
/// Rounds between clock readings when no record is handled; 64 handled
/// records count as many.
const CLOCK_EVERY: usize = 256;

/// The incoming half of one renderer's connection, owned by the dispatcher.
pub(crate) struct NewRenderer {
    pub web_contents: WebContents,
    pub consumer: Consumer,
    /// request.data: our "I am asleep, kick me" flag.
    pub data_bell: Doorbell,
    /// request.space: the renderer sleeps here when its ring is full.
    pub space_bell: Doorbell,
    /// Closing it tells the renderer it is disconnected (the connection's
    /// reply.data doorbell holds the other reference until the disconnect).
    pub lifeline: Arc<OwnedFd>,
    /// Declared last: dropped after everything that points into it.
    pub _mapping: Arc<Mapping>,
}

/// A renderer as the dispatcher tracks it.
struct Slot {
    r: NewRenderer,
    /// Rounds since its last record, up to [`QUIET_AFTER`].
    quiet: u32,
    /// Its message in progress, when one arrives in fragments.
    reassembly: Reassembly,
    /// Views of the listeners and handlers registered on its `WebContents`.
    own: Own,
}

/// The dispatcher's views of one renderer's own listeners and handlers.
struct Own {
    listeners: Snapshot<MainListener>,
    handlers: Snapshot<MainHandler>,
}

/// Hands new renderers to the dispatcher and wakes it.
pub(crate) struct Control {
    pending: Mutex<Vec<NewRenderer>>,
    waker: Waker,
    read_end: OwnedFd,
}

/// Wakes the dispatcher from any thread.
#[derive(Clone)]
pub(crate) struct Waker {
    poked: Arc<AtomicBool>,
    write_end: Arc<OwnedFd>,
}

impl Waker {
    pub fn wake(&self) {
        self.poked.store(true, Ordering::Release);
        lifeline::kick(self.write_end.as_raw_fd());
    }
}

impl Control {
    pub fn new() -> std::io::Result<Control> {
        let (read_end, write_end) = lifeline::pair()?;
        Ok(Control {
            pending: Mutex::new(Vec::new()),
            waker: Waker {
                poked: Arc::new(AtomicBool::new(false)),
                write_end: Arc::new(write_end),
            },
            read_end,
        })
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    pub fn add(&self, renderer: NewRenderer) {
        self.pending.lock().push(renderer);
        self.waker.wake();
    }

    fn poked(&self) -> bool {
        self.waker.poked.load(Ordering::Relaxed) && self.waker.poked.swap(false, Ordering::Acquire)
    }
}

pub(crate) struct Dispatcher {
    shared: Arc<MainShared>,
    slots: Vec<Slot>,
    listeners: Snapshot<MainListener>,
    handlers: Snapshot<MainHandler>,
    /// Reused buffer for the record being handled.
    body: Vec<u8>,
    ret: ReturnValue,
    round_start: usize,
    /// Records handled since the last round that skipped no one.
    handled_since_full_round: usize,
    pollfds: Vec<libc::pollfd>,
}

/// The dispatcher thread's body.
pub(crate) fn run(shared: Arc<MainShared>) {
    let mut d = Dispatcher::new(shared);
    d.run_until(None);
    d.shutdown();
}

impl Dispatcher {
    pub fn new(shared: Arc<MainShared>) -> Dispatcher {
        Dispatcher {
            listeners: Snapshot::new(&shared.listeners),
            handlers: Snapshot::new(&shared.handlers),
            shared,
            slots: Vec::new(),
            body: Vec::with_capacity(4096),
            ret: ReturnValue::default(),
            round_start: 0,
            handled_since_full_round: 0,
            pollfds: Vec::new(),
        }
    }

    /// Serves every renderer until main stops or `deadline` passes (checked
    /// whenever the loop reads the clock, so at least one round runs).
    /// Returns the records handled.
    pub fn run_until(&mut self, deadline: Option<Instant>) -> usize {
        let spin = self.shared.config.dispatcher_spin;
        let mut total = 0;
        let mut idle_since: Option<Instant> = None;
        let mut last_liveness = Instant::now();
        // Reading the clock every round would tax the hot path; instead every
        // round costs one unit and every handled record, which may have run a
        // slow listener, costs more.
        let mut until_clock = CLOCK_EVERY;
        let mut idle_rounds = 0u32;
        while !self.shared.stopping.load(Ordering::Acquire) {
            if self.shared.control.poked() {
                self.housekeeping();
            }
            let handled = self.drain_all();
            total += handled;
            until_clock = until_clock.saturating_sub(1 + handled * CLOCK_EVERY / 64);
            if until_clock == 0 {
                until_clock = CLOCK_EVERY;
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    break;
                }
                if now - last_liveness > LIVENESS_PERIOD {
                    self.poll(0);
                    last_liveness = Instant::now();
                }
            }
            if handled > 0 {
                idle_since = None;
                idle_rounds = 0;
                continue;
            }
            // Idle: poll again at once, reading the clock only now and then
            // (it costs as much as a round), and park once `spin` has passed.
            idle_rounds += 1;
            if idle_rounds % 64 != 1 {
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if now >= d => break,
                Some(d) => d - now,
                None => Duration::MAX,
            };
            match idle_since {
                None => idle_since = Some(now),
                Some(t) if now - t < spin => {}
                Some(_) => {
                    self.park(left);
                    idle_since = None;
                    idle_rounds = 0;
                    last_liveness = Instant::now();
                }
            }
        }
        total
    }

    /// Adopts new renderers, drops disconnected ones, drains the control socket.
    fn housekeeping(&mut self) {
        lifeline::drain_kicks(&self.shared.control.read_end);
        let adopted = std::mem::take(&mut *self.shared.control.pending.lock());
        let max_message = self.shared.config.max_message_len as usize;
        self.slots.extend(adopted.into_iter().map(|r| Slot {
            own: Own {
                listeners: Snapshot::new(&r.web_contents.conn.listeners),
                handlers: Snapshot::new(&r.web_contents.conn.handlers),
            },
            r,
            quiet: 0,
            reassembly: Reassembly::new(max_message),
        }));
        if self.slots.iter().any(|s| !s.r.web_contents.is_connected()) {
            // Dropping a slot closes our lifeline end (the renderer sees EOF) and
            // releases our reference to its mapping.
            self.slots.retain(|s| s.r.web_contents.is_connected());
            self.shared.renderers.lock().retain(|w| w.is_connected());
        }
    }

    /// One round over the renderers (the quiet ones only on their turn):
    /// flushes outboxes, drains request rings. Returns the records handled.
    fn drain_all(&mut self) -> usize {
        let n = self.slots.len();
        let round = self.round_start;
        // Skipping quiet renderers only pays while little is handled; once a
        // batch's worth was handled since everyone was last looked at, look at
        // everyone, so a renderer that speaks up waits one batch at most.
        let may_skip = self.handled_since_full_round < BATCH;
        let mut handled = 0;
        for k in 0..n {
            let i = (round + k) % n;
            let slot = &self.slots[i];
            let conn = &slot.r.web_contents.conn;
            let backlog = conn.queued.load(Ordering::Relaxed) != 0;
            if may_skip && !backlog && slot.quiet >= QUIET_AFTER && (round + i) % QUIET_STRIDE != 0
            {
                continue;
            }
            if backlog {
                conn.flush();
            }
            let h = self.drain(i);
            let quiet = &mut self.slots[i].quiet;
            *quiet = if h > 0 {
                0
            } else {
                (*quiet + 1).min(QUIET_AFTER)
            };
            handled += h;
        }
        self.round_start = round.wrapping_add(1);
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
        while handled < BATCH {
            let Slot {
                r: slot,
                reassembly,
                own,
                ..
            } = &mut self.slots[i];
            if !slot.web_contents.is_connected() {
                break;
            }
            let popped = slot
                .consumer
                .pop(&mut self.body)
                .and_then(|h| h.map(|h| reassembly.feed(h, &mut self.body)).transpose());
            let header = match popped {
                Ok(Some(Fed::Whole(h))) => h,
                Ok(Some(Fed::Partial | Fed::Aborted)) => {
                    handled += 1;
                    continue;
                }
                Ok(None) => break,
                Err(v) => {
                    slot.web_contents
                        .conn
                        .disconnect(format!("protocol violation on the request ring: {v}"));
                    break;
                }
            };
            handled += 1;
            let ctx = Context {
                shared: &self.shared,
                listeners: &mut self.listeners,
                handlers: &mut self.handlers,
                own,
                ret: &mut self.ret,
                sender: &slot.web_contents,
            };
            // Listeners run under their own `catch_unwind`; this one is a
            // backstop so that a bug here costs one renderer, not the dispatcher.
            let body = &self.body;
            match catch_unwind(AssertUnwindSafe(|| ctx.handle(header, body))) {
                Ok(Ok(())) => {}
                Ok(Err(v)) => {
                    slot.web_contents
                        .conn
                        .disconnect(format!("protocol violation: {v}"));
                    break;
                }
                Err(_) => {
                    slot.web_contents
                        .conn
                        .disconnect("internal error in the dispatcher".into());
                    break;
                }
            }
        }
        if handled > 0 {
            // The renderer may be asleep waiting for room we just freed.
            self.slots[i].r.space_bell.notify();
        }
        if self.body.capacity() > BODY_KEEP {
            // A reassembled message left it large; do not hold on to that.
            self.body = Vec::with_capacity(4096);
        }
        handled
    }

    /// Sleeps until a renderer kicks, a lifeline closes, or the control socket
    /// is poked.
    fn park(&mut self, at_most: Duration) {
        for s in &self.slots {
            s.r.data_bell.set_waiting(true);
        }
        // Re-check after raising the flags: a renderer that published before it
        // could see them will not kick.
        let mut ready = self.shared.stopping.load(Ordering::Acquire)
            || self.shared.control.waker.poked.load(Ordering::Acquire);
        for s in &mut self.slots {
            ready |= s.r.consumer.has_next();
        }
        if !ready {
            let ms = at_most.as_millis().clamp(1, PARK_TIMEOUT_MS as u128) as libc::c_int;
            self.poll(ms);
        }
        for s in &self.slots {
            s.r.data_bell.set_waiting(false);
        }
    }

    /// Polls the control socket and every lifeline; drains kicks and disconnects
    /// renderers whose lifeline closed.
    fn poll(&mut self, timeout_ms: libc::c_int) {
        let entry = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        self.pollfds.clear();
        self.pollfds
            .push(entry(self.shared.control.read_end.as_raw_fd()));
        self.pollfds
            .extend(self.slots.iter().map(|s| entry(s.r.lifeline.as_raw_fd())));
        // SAFETY: `pollfds` is a live array of `len` initialised pollfd structs.
        let n = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if n <= 0 {
            return;
        }
        // Lifelines first: `pollfds[1..]` matches `slots` only until
        // housekeeping changes the slots.
        for (s, p) in self.slots.iter_mut().zip(&self.pollfds[1..]) {
            if p.revents == 0 {
                continue;
            }
            // A kick: its ring is worth a look on the very next round.
            s.quiet = 0;
            if !lifeline::drain_kicks(&s.r.lifeline) {
                s.r.web_contents
                    .conn
                    .disconnect("renderer exited or closed its lifeline".into());
            }
        }
        if self.pollfds[0].revents != 0
            || self.slots.iter().any(|s| !s.r.web_contents.is_connected())
        {
            self.housekeeping();
        }
    }

    pub fn shutdown(&mut self) {
        self.housekeeping();
        // Handle what renderers sent before the stop, a bounded number of
        // rounds: one that keeps sending cannot hold main's exit.
        for _ in 0..SHUTDOWN_ROUNDS {
            if self.drain_all() == 0 {
                break;
            }
        }
        for s in self.slots.drain(..) {
            s.r.web_contents.conn.disconnect("main shut down".into());
        }
        self.shared.renderers.lock().clear();
    }
}

impl Drop for Dispatcher {
    /// Also on a panic that escaped the per-record backstop: every renderer
    /// still here is disconnected, which releases the connection's share of
    /// the lifeline so that the renderer sees EOF instead of a silent main.
    fn drop(&mut self) {
        for s in &self.slots {
            s.r.web_contents
                .conn
                .disconnect("main's dispatcher stopped".into());
        }
    }
}

/// What handling one record needs, borrowed from the dispatcher.
struct Context<'a> {
    shared: &'a MainShared,
    listeners: &'a mut Snapshot<MainListener>,
    handlers: &'a mut Snapshot<MainHandler>,
    own: &'a mut Own,
    ret: &'a mut ReturnValue,
    sender: &'a WebContents,
}

impl Context<'_> {
    fn handle(self, header: RecordHeader, body: &[u8]) -> Result<(), Violation> {
        let request = Request::decode(&header, body)?;
        let conn = &self.sender.conn;
        let call = matches!(request.asks, Asks::Sync | Asks::Invoke);
        conn.counters.record(call, request.payload.len());
        match request.asks {
            Asks::Invoke => self.invoke(request),
            Asks::SendTo(to) => self.forward(request, to),
            Asks::Message | Asks::Sync => self.run_listeners(request),
        }
        Ok(())
    }

    /// `send_to`: hands the message to renderer `to` if main's policy allows.
    fn forward(self, request: Request<'_>, to: u64) {
        let from = self.sender;
        let target = u32::try_from(to).ok().and_then(|to| {
            let renderers = self.shared.renderers.lock();
            renderers.iter().find(|w| w.id() == to).cloned()
        });
        let policy = self.shared.forwarding.read().clone();
        let allowed = match (&target, policy) {
            (Some(target), Some(policy)) => {
                catch_unwind(AssertUnwindSafe(|| policy(from, target, request.channel)))
                    .unwrap_or(false)
            }
            _ => false,
        };
        let delivered = allowed
            && target.is_some_and(|t| {
                t.conn
                    .push(
                        Kind::Message,
                        request.channel.as_bytes(),
                        request.payload,
                        from.id().into(),
                    )
                    .is_ok()
            });
        if !delivered {
            from.conn.counters.refused.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "renderer {}: message on '{}' for renderer {to} not forwarded ({})",
                from.id(),
                request.channel,
                if allowed {
                    "not connected"
                } else {
                    "not allowed"
                }
            );
        }
    }

    /// `send` and `send_sync`: every listener of the channel, in order.
    fn run_listeners(self, request: Request<'_>) {
        let Request {
            asks,
            channel,
            payload,
            call_id,
        } = request;
        let sync = asks == Asks::Sync;
        let conn = &self.sender.conn;
        // Electron's order: the renderer's own listeners, then main's.
        let own = self.own.listeners.refresh(&conn.listeners).get(channel);
        let global = self.listeners.refresh(&self.shared.listeners).get(channel);
        if own.is_empty() && global.is_empty() {
            if sync {
                answer_failure(conn, call_id, RemoteFailure::NoListener, "");
            } else {
                conn.unhandled.fetch_add(1, Ordering::Relaxed);
                log::debug!(
                    "renderer {}: no listener for message on '{channel}'",
                    conn.id
                );
            }
            return;
        }
        self.ret.reset();
        let mut event = IpcMainEvent {
            sender: self.sender,
            channel,
            sync,
            call_id,
            reply: self.ret,
        };
        let mut panicked = None;
        let tables = [&conn.listeners, &self.shared.listeners];
        for (entry, table) in own
            .iter()
            .map(|e| (e, tables[0]))
            .chain(global.iter().map(|e| (e, tables[1])))
        {
            // A `once` listener runs only for the message that removes it.
            if entry.once && !table.remove(entry.id) {
                continue;
            }
            let listener = &entry.f;
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| listener(&mut event, payload))) {
                panicked = Some(panic_message(p.as_ref()));
                break;
            }
        }
        if let Some(msg) = &panicked {
            log::error!("listener for '{channel}' panicked: {msg}");
        }
        if !sync {
            return;
        }
        let ret = &mut *self.ret;
        if ret.deferred {
            // A listener took the responder: the answer comes from it.
        } else if let Some(msg) = panicked.filter(|_| !ret.set) {
            answer_failure(conn, call_id, RemoteFailure::HandlerPanicked, &msg);
        } else if !ret.set {
            answer_failure(conn, call_id, RemoteFailure::NoReturnValue, "");
        } else {
            // A failure to reply is a disconnect, recorded on the connection.
            let _ = send_reply(conn, call_id, &ret.bytes);
        }
    }

    /// `invoke`: the channel's one handler returns the answer or an error.
    fn invoke(self, request: Request<'_>) {
        let Request {
            channel,
            payload,
            call_id,
            ..
        } = request;
        let conn = &self.sender.conn;
        // Electron's order: the renderer's own handler, else main's. A
        // `handle_once` handler runs only for the call that removes it.
        let claim =
            |e: &&Entry<MainHandler>, table: &Listeners<MainHandler>| !e.once || table.remove(e.id);
        let own = self.own.handlers.refresh(&conn.handlers).get(channel);
        let entry = own
            .first()
            .filter(|e| claim(e, &conn.handlers))
            .or_else(|| {
                let global = self.handlers.refresh(&self.shared.handlers).get(channel);
                global.first().filter(|e| claim(e, &self.shared.handlers))
            });
        let Some(entry) = entry else {
            answer_failure(conn, call_id, RemoteFailure::NoHandler, "");
            conn.wake_receiver();
            return;
        };
        self.ret.reset();
        let mut event = IpcMainEvent {
            sender: self.sender,
            channel,
            sync: false,
            call_id,
            reply: self.ret,
        };
        let handler = &entry.f;
        match catch_unwind(AssertUnwindSafe(|| handler(&mut event, payload))) {
            Ok(Ok(())) => {
                let _ = send_reply(conn, call_id, &self.ret.bytes);
            }
            Ok(Err(message)) => {
                answer_failure(conn, call_id, RemoteFailure::HandlerFailed, &message);
            }
            Err(p) => {
                let message = panic_message(p.as_ref());
                log::error!("handler for '{channel}' panicked: {message}");
                answer_failure(conn, call_id, RemoteFailure::HandlerPanicked, &message);
            }
        }
        // Nobody may be blocked on this answer yet.
        conn.wake_receiver();
    }
}

/// Answers a call with an error the caller decodes (`RemoteFailure::decode`).
fn answer_failure(conn: &Connection, call_id: u64, failure: RemoteFailure, detail: &str) {
    conn.counters.errors.fetch_add(1, Ordering::Relaxed);
    let mut why = Vec::with_capacity(1 + detail.len());
    why.push(failure as u8);
    why.extend_from_slice(detail.as_bytes());
    // A failure to reply is a disconnect, recorded on the connection.
    let _ = conn.push(Kind::ErrorReply, &[], &why, call_id);
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
