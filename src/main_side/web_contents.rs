//! [`WebContents`]: main's handle on one renderer, and [`Connection`], the
//! per-renderer state every handle shares.

use super::budget::Account;
use super::calls::{Calls, MainInvocation};
use super::dispatcher_waker::DispatcherWaker;
use super::lifecycle::Hooks;
use super::log_gate::LogGate;
use super::outbox::{Broken, ForwardFailed, Outgoing};
use super::sent_signal::SentSignal;
use super::stats::{Counters, RendererStats};
use super::{IpcMainEvent, MainHandler, MainListener, register_handler};
use crate::call_line::Status;
use crate::error::{Error, Result, check_channel};
use crate::listeners::{ListenerId, Listeners};
use crate::wait;
use crate::wire::failure::RemoteFailure;
use crate::wire::record::Kind;
use parking_lot::{Mutex, MutexGuard};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Longest sleep in [`WebContents::wait_sent`] before it flushes itself.
const SENT_SLICE: Duration = Duration::from_millis(1);

/// Main's handle on one connected renderer, like Electron's `webContents`.
///
/// Cheap to clone; every clone refers to the same renderer. Sends from any
/// thread are ordered with each other and with the replies to that renderer's
/// sync calls, because they all go through one ring in one order.
#[derive(Clone)]
pub struct WebContents {
    pub(crate) conn: Arc<Connection>,
}

pub(crate) struct Connection {
    pub id: u32,
    pub pid: u32,
    /// The longest message it may be sent (`Config::max_message_len`); a
    /// failure's text is cut to it.
    pub max_message: usize,
    /// `None` once disconnected: the mapping is released with it.
    pub out: Mutex<Option<Outgoing>>,
    pub connected: AtomicBool,
    /// Bytes waiting in the outbox, and what a streaming writer has left
    /// (`Outgoing::backlog`): non-zero tells the dispatcher to flush.
    /// Written only under `out`, so it never runs behind the outbox for long.
    pub queued: AtomicUsize,
    /// Wakes threads in [`WebContents::wait_sent`] when `queued` drops to 0.
    pub sent: SentSignal,
    /// Wakes a thread streaming a message (`stream.rs`) asleep for room.
    pub room: SentSignal,
    pub reason: Mutex<Option<String>>,
    /// Async messages that arrived on a channel with no listener.
    pub unhandled: AtomicU64,
    /// What this renderer sent, counted by the dispatcher.
    pub counters: Counters,
    /// Its share of main's memory budget.
    pub account: Arc<Account>,
    /// How much it may make main log.
    pub log: LogGate,
    /// Main's `invoke`s of it that await an answer.
    pub calls: Arc<Calls>,
    /// Wakes the dispatcher (to reap this connection after a disconnect).
    pub dispatcher: DispatcherWaker,
    /// Listeners and handlers registered on this renderer's `WebContents`;
    /// they come before main's (Electron's `webContents.ipc`).
    pub listeners: Listeners<MainListener>,
    pub handlers: Listeners<MainHandler>,
    /// Main's lifecycle callbacks, run on disconnect.
    pub hooks: Arc<Hooks>,
    /// This connection, for handing a `WebContents` to those callbacks.
    pub this: Weak<Connection>,
    /// Set while a request the dispatcher took off the call line awaits its
    /// answer (a listener may defer it): the dispatcher takes no other from
    /// the line meanwhile, so a late answer cannot land on a newer request.
    /// (Two answers never mix: each is written under `out`.)
    pub line_owed: AtomicBool,
    /// Raised by the dispatcher each time it asks renderers to kick it (as
    /// it goes to sleep), lowered by a yield to a caller that handed its
    /// CPU over ([`Self::hand_back`]).
    pub may_hand_back: AtomicBool,
}

/// How a `send_sync` reached main, and so how its answer goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A record in the request ring: the answer is a reply record.
    Ring,
    /// The call line's request `seq` (`call_line.rs`): the answer goes on
    /// the line if it fits and nothing waits in the outbox ahead of it, else
    /// through the ring.
    Line { seq: u64 },
}

impl Connection {
    /// The state of a renderer that was just spawned, with its outgoing half.
    pub fn new(
        (id, pid): (u32, u32),
        (out, account): (Outgoing, Arc<Account>),
        (dispatcher, hooks): (DispatcherWaker, Arc<Hooks>),
        this: Weak<Connection>,
    ) -> Connection {
        Connection {
            id,
            pid,
            max_message: out.max_message,
            out: Mutex::new(Some(out)),
            connected: AtomicBool::new(true),
            queued: AtomicUsize::new(0),
            sent: SentSignal::default(),
            room: SentSignal::default(),
            reason: Mutex::new(None),
            unhandled: AtomicU64::new(0),
            counters: Counters::default(),
            account,
            log: LogGate::default(),
            calls: Arc::default(),
            listeners: Listeners::default(),
            handlers: Listeners::default(),
            dispatcher,
            hooks,
            this,
            line_owed: AtomicBool::new(false),
            may_hand_back: AtomicBool::new(false),
        }
    }

    /// Marks the renderer gone, frees its ring, and asks the dispatcher to close
    /// the lifeline. Idempotent; the first reason is kept.
    pub fn disconnect(&self, reason: String) {
        {
            // The reason is in place before anyone can see the renderer as
            // disconnected; the first reason wins.
            let mut first = self.reason.lock();
            if first.is_some() {
                return;
            }
            *first = Some(reason.clone());
        }
        // SYNC(connected): Release → Acquire in `WebContents::is_connected`;
        // publishes the reason set above.
        if self.connected.swap(false, Ordering::AcqRel) {
            log::warn!(
                "renderer {} (pid {}) disconnected: {reason}",
                self.id,
                self.pid
            );
            *self.out.lock() = None;
            self.queued.store(0, Ordering::Relaxed);
            self.sent.notify();
            self.room.notify();
            self.log.close(self.id);
            self.calls.close();
            self.dispatcher.wake();
            if let Some(conn) = self.this.upgrade() {
                self.hooks.disconnected(&WebContents { conn }, &reason);
            }
        }
    }

    /// Lets go of `out`, then yields back to a caller that handed its CPU
    /// over (see [`Self::hand_back`]), as a notify under the lock found.
    pub fn unlock_and_hand_back(&self, guard: MutexGuard<'_, Option<Outgoing>>) {
        let handed = guard.as_ref().is_some_and(Outgoing::take_handed_over);
        drop(guard);
        self.hand_back(handed);
    }

    /// Yields once if a caller of this renderer `handed` its CPU over to main
    /// (`Outgoing::take_handed_over`, taken before `out` was let go), so
    /// that it takes what main just wrote on the CPU they share, unless
    /// main has yielded to this renderer since it last asked renderers to
    /// kick it: no renderer can make main yield more often than main goes
    /// to sleep. The yield may come inside a listener's `set_return_value`,
    /// with whatever locks the listener holds.
    #[inline]
    pub fn hand_back(&self, handed: bool) {
        if handed && self.may_hand_back.swap(false, Ordering::Relaxed) {
            std::thread::yield_now();
        }
    }

    /// Pushes one record and keeps `queued` in step with the outbox.
    pub fn push(&self, kind: Kind, channel: &[u8], payload: &[u8], call_id: u64) -> Result<()> {
        let guard = self.out.lock();
        self.push_locked(guard, (kind, channel, payload, call_id))
            .map(drop)
    }

    /// [`Self::push`] under the lock the caller took (and this lets go of);
    /// returns the backlog it left.
    pub fn push_locked(
        &self,
        mut guard: MutexGuard<'_, Option<Outgoing>>,
        (kind, channel, payload, call_id): (Kind, &[u8], &[u8], u64),
    ) -> Result<usize> {
        let out = guard.as_mut().ok_or(Error::Disconnected)?;
        let max = out.max_message;
        if payload.len() > max {
            return Err(Error::MessageTooLarge {
                len: payload.len(),
                max,
            });
        }
        let result = out.push(kind, channel, payload, call_id);
        // Under the lock, so concurrent pushers and flushes cannot reorder it.
        let backlog = out.backlog();
        self.queued.store(backlog, Ordering::Relaxed);
        self.unlock_and_hand_back(guard);
        result.map(|()| backlog).map_err(|Broken(reason)| {
            self.disconnect(reason);
            Error::Disconnected
        })
    }

    /// Queues a message renderer `from` sent with `send_to`, charging what
    /// must wait in the outbox to `sender`'s account. `Err` with the reason
    /// to disconnect the sender when its share of memory is spent; a target
    /// that cannot take it is disconnected here and reported as `Ok(false)`.
    pub fn forward(
        &self,
        channel: &[u8],
        payload: &[u8],
        from: u32,
        sender: &Arc<Account>,
    ) -> std::result::Result<bool, String> {
        let mut guard = self.out.lock();
        let Some(out) = guard.as_mut() else {
            return Ok(false);
        };
        if payload.len() > out.max_message {
            return Ok(false);
        }
        let result = out.forward(channel, payload, from, sender);
        self.queued.store(out.backlog(), Ordering::Relaxed);
        self.unlock_and_hand_back(guard);
        match result {
            Ok(()) => Ok(true),
            Err(ForwardFailed::Sender(over)) => Err(over.to_string()),
            Err(ForwardFailed::Target(Broken(reason))) => {
                self.disconnect(reason);
                Ok(false)
            }
        }
    }

    /// Answers call `call_id` with `value`; one longer than the renderer may
    /// receive goes as an error the caller can read instead.
    #[inline]
    pub fn answer(&self, call_id: u64, value: &[u8]) -> Result<()> {
        match self.push(Kind::Reply, &[], value, call_id) {
            Err(Error::MessageTooLarge { len, max }) => {
                let why = RemoteFailure::too_large(len, max);
                self.push(Kind::ErrorReply, &[], &why, call_id)?;
                Err(Error::MessageTooLarge { len, max })
            }
            other => other,
        }
    }

    /// Answers sync call `call_id`, which came by `route`, with `value`: on
    /// the call line if it may go there (see [`Outgoing::answer_on_line`]),
    /// else through the ring, streamed from `value` if `stream` and it is
    /// big (see [`Self::answer_blocked_caller`]).
    pub fn answer_call(
        &self,
        route: Route,
        call_id: u64,
        value: &[u8],
        stream: bool,
    ) -> Result<()> {
        let mut handed = false;
        if let Route::Line { seq } = route {
            let on_line;
            (on_line, handed) = self.answer_on_line(seq, call_id, Status::Value, value)?;
            if on_line {
                self.hand_back(handed);
                return Ok(());
            }
        }
        let answered = match stream {
            true => self.answer_blocked_caller(call_id, value),
            false => self.answer(call_id, value),
        };
        // A caller on the line that handed its CPU over takes the reply
        // now that it is in the ring.
        self.hand_back(handed);
        answered
    }

    /// [`Self::fail`] of a sync call that came by `route`.
    pub fn fail_call(&self, route: Route, call_id: u64, failure: RemoteFailure, detail: &str) {
        let Route::Line { seq } = route else {
            return self.fail(call_id, failure, detail);
        };
        let payload = failure.encode_text(detail, self.max_message);
        match self.answer_on_line(seq, call_id, Status::Failure, &payload) {
            Ok((true, handed)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.hand_back(handed);
            }
            Ok((false, handed)) => {
                self.fail(call_id, failure, detail);
                self.hand_back(handed);
            }
            Err(_) => {}
        }
    }

    /// Answers request `seq` on the call line (see
    /// [`Outgoing::answer_on_line`]), and lets the dispatcher take the next.
    /// Returns whether the answer went on the line, and whether its caller
    /// handed its CPU over, for [`Self::hand_back`] once the answer is out.
    fn answer_on_line(
        &self,
        seq: u64,
        call_id: u64,
        status: Status,
        bytes: &[u8],
    ) -> Result<(bool, bool)> {
        let guard = self.out.lock();
        // Before the answer is out: once its caller has it, it may publish
        // its next request at once, and the dispatcher must not refuse that
        // one (no kick would come again). Two answers cannot mix: every
        // answer is written under `out`.
        // SYNC(line_owed): Relaxed: it orders nothing; an honest renderer's
        // next request comes after it read this answer.
        self.line_owed.store(false, Ordering::Relaxed);
        match guard.as_ref() {
            Some(out) => Ok(out.answer_on_line(seq, call_id, status, bytes)),
            // Not `ok_or`: the release build built an `Error` and called
            // its drop glue on every answer (perf annotate).
            None => Err(Error::Disconnected),
        }
    }

    /// Answers call `call_id` with an error the caller decodes into its
    /// [`Error`]. A failure to send is a disconnect, recorded here.
    pub fn fail(&self, call_id: u64, failure: RemoteFailure, detail: &str) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let payload = failure.encode_text(detail, self.max_message);
        let _ = self.push(Kind::ErrorReply, &[], &payload, call_id);
    }

    /// Wakes the renderer's receiver thread if it sleeps: the one that drains
    /// the ring when no thread is blocked on a reply, as with an `invoke`
    /// answer nobody waits for yet.
    pub fn wake_receiver(&self) {
        if let Some(out) = self.out.lock().as_ref() {
            out.data_bell.notify();
        }
    }

    /// Called by the dispatcher after the renderer freed room.
    /// Returns whether anything moved into the ring, or a streaming writer
    /// asleep for room was woken (either is progress the kick was for).
    pub fn flush(&self) -> bool {
        let mut guard = self.out.lock();
        let Some(out) = guard.as_mut() else {
            return false;
        };
        let before = out.outbox_bytes;
        let result = out.flush();
        let moved = out.outbox_bytes != before;
        self.queued.store(out.backlog(), Ordering::Relaxed);
        let emptied = moved && out.backlog() == 0;
        let streamer_may_go_on = out.streamer_may_go_on();
        self.unlock_and_hand_back(guard);
        if emptied {
            self.sent.notify();
        }
        let woke_streamer = streamer_may_go_on && self.room.notify();
        if let Err(Broken(reason)) = result {
            self.disconnect(reason);
        }
        moved || woke_streamer
    }
}

impl WebContents {
    /// Main's id for this renderer, unique within one [`crate::IpcMain`].
    pub fn id(&self) -> u32 {
        self.conn.id
    }

    /// The renderer's operating-system process id.
    pub fn process_id(&self) -> u32 {
        self.conn.pid
    }

    /// Sends an asynchronous message to the renderer's listeners of `channel`
    /// (Electron's `webContents.send` / `event.sender.send`).
    ///
    /// Never blocks: if the renderer's ring is full the message waits in a
    /// bounded outbox, in order. A renderer whose outbox overflows is
    /// disconnected, and this returns [`Error::Disconnected`].
    pub fn send(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<()> {
        check_channel(channel)?;
        self.conn
            .push(Kind::Message, channel.as_bytes(), arg.as_ref(), 0)
    }

    /// Calls the handler the renderer registered for `channel` with
    /// [`crate::IpcRenderer::handle`] (main → renderer `invoke`, which
    /// Electron lacks), without waiting: the request is on its way (or in
    /// the outbox, in order) when this returns, and the [`MainInvocation`]
    /// gives the answer through [`MainInvocation::wait`],
    /// [`MainInvocation::wait_timeout`], or `.await`. Never blocks main's
    /// dispatcher, so a listener may call it (and must not wait for the
    /// answer there: the dispatcher delivers it). Likewise, with
    /// [`crate::Config::dispatcher_thread`]`(false)` do not block on the
    /// answer on the thread that calls [`crate::IpcMain::dispatch`]: await it,
    /// or wait elsewhere.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// # let ipc = ringipc::IpcMain::new()?;
    /// # let renderer = ipc.renderers().remove(0);
    /// let pending = renderer.invoke("document-title", "")?;
    /// match pending.wait_timeout(std::time::Duration::from_secs(1)) {
    ///     Ok(title) => println!("{}", String::from_utf8_lossy(&title)),
    ///     Err(ringipc::Error::Timeout) => println!("the renderer did not answer"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn invoke(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<MainInvocation> {
        check_channel(channel)?;
        let invocation = MainInvocation::begin(&self.conn.calls, channel)?;
        // Dropping `invocation` on failure forgets the call.
        self.conn.push(
            Kind::Invoke,
            channel.as_bytes(),
            arg.as_ref(),
            invocation.id(),
        )?;
        Ok(invocation)
    }

    /// Bytes of ring space that records accepted by [`send`](Self::send) (and
    /// replies, main's `invoke`s, messages other renderers forwarded) still
    /// need while they wait in main's outbox for the renderer to make room,
    /// with what a thread in [`send_blocking`](Self::send_blocking) has
    /// still to write: 0 once they all reached the ring, or after a
    /// disconnect.
    /// A sender that produces faster than the renderer reads can pace itself
    /// on this, or sleep in [`wait_sent`](Self::wait_sent).
    pub fn queued_bytes(&self) -> usize {
        self.conn.queued.load(Ordering::Relaxed)
    }

    /// Waits until everything sent to this renderer so far has left main's
    /// outbox for its ring (the renderer may not have read it yet), or
    /// `timeout` passes: backpressure for a thread that sends large or many
    /// messages, whose outbox would otherwise grow toward
    /// [`Config::outbox_limit`](crate::Config::outbox_limit). It sleeps, and
    /// moves queued records into the ring itself as room appears. Fails with
    /// [`Error::Timeout`] if the outbox is still not empty by then, and
    /// [`Error::Disconnected`] once the renderer is gone. Not from a listener
    /// or handler: main's dispatcher would wait meanwhile.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// # let ipc = ringipc::IpcMain::new()?;
    /// # let (renderer, _child) = ipc.spawn(&mut std::process::Command::new("./renderer"))?;
    /// let frame = vec![0u8; 8 << 20];
    /// for _ in 0..100 {
    ///     renderer.send("frame", &frame)?;
    ///     // At most one frame waits in main: a slow renderer slows this loop.
    ///     renderer.wait_sent(std::time::Duration::from_secs(5))?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait_sent(&self, timeout: Duration) -> Result<()> {
        let conn = &self.conn;
        // The common case, cheap enough to call after every small send.
        if conn.queued.load(Ordering::Relaxed) == 0 {
            return match self.is_connected() {
                true => Ok(()),
                false => Err(Error::Disconnected),
            };
        }
        let deadline = wait::deadline_in(timeout);
        loop {
            if !self.is_connected() {
                return Err(Error::Disconnected);
            }
            if conn.queued.load(Ordering::Relaxed) == 0 {
                return Ok(());
            }
            // Room may have appeared since the dispatcher last looked.
            conn.flush();
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return match conn.queued.load(Ordering::Relaxed) {
                    0 => Ok(()),
                    _ => Err(Error::Timeout),
                };
            }
            // The dispatcher flushes as the renderer reads, and wakes us
            // when the outbox is empty; a slice bounds the wait should it be
            // busy, after which we flush ourselves.
            let until = deadline.map_or(now + SENT_SLICE, |d| d.min(now + SENT_SLICE));
            conn.sent.sleep(until, || {
                conn.queued.load(Ordering::Relaxed) == 0 || !conn.connected.load(Ordering::Relaxed)
            });
        }
    }

    /// Sends any `serde` value, compactly encoded (feature `serde`; see
    /// the `value` module).
    #[cfg(feature = "serde")]
    pub fn send_value<T: serde::Serialize + ?Sized>(&self, channel: &str, value: &T) -> Result<()> {
        self.send(channel, crate::value::encode(value)?)
    }

    /// Sends a `serde` value as JSON (feature `serde`).
    #[cfg(feature = "serde")]
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, channel: &str, value: &T) -> Result<()> {
        self.send(channel, crate::value::encode_json(value)?)
    }

    /// Sends a plain-old-data value as it lies in memory (no encoding); the
    /// renderer reads it with [`crate::pod::read_pod`].
    pub fn send_pod<T: crate::pod::Pod>(&self, channel: &str, value: &T) -> Result<()> {
        self.send(channel, bytemuck::bytes_of(value))
    }

    /// Registers `listener` for messages from this renderer only (Electron's
    /// `webContents.ipc.on`). It runs before [`crate::IpcMain::on`]'s
    /// listeners of the channel, which still run.
    pub fn on<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self.conn.listeners.add(channel, Arc::new(listener), false))
    }

    /// [`on`](Self::on) for this renderer's next message on `channel` only.
    pub fn once<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self.conn.listeners.add(channel, Arc::new(listener), true))
    }

    /// Removes a listener [`on`](Self::on) or [`once`](Self::once) returned.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.conn.listeners.remove(id)
    }

    /// Registers the handler of `channel` for this renderer's `invoke`s
    /// (Electron's `webContents.ipc.handle`); it takes precedence over
    /// [`crate::IpcMain::handle`]'s. One per channel per renderer.
    pub fn handle<F, R, E>(&self, channel: &str, handler: F) -> Result<()>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        register_handler(&self.conn.handlers, channel, handler, false)
    }

    /// [`handle`](Self::handle) for the next call only.
    pub fn handle_once<F, R, E>(&self, channel: &str, handler: F) -> Result<()>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        register_handler(&self.conn.handlers, channel, handler, true)
    }

    /// Removes this renderer's handler of `channel`; main's, if any, then
    /// answers its calls.
    pub fn remove_handler(&self, channel: &str) -> bool {
        self.conn.handlers.remove_all(Some(channel)) > 0
    }

    /// Whether the renderer is still connected.
    pub fn is_connected(&self) -> bool {
        // SYNC(connected): Acquire ← Release in `Connection::disconnect`.
        self.conn.connected.load(Ordering::Acquire)
    }

    /// Why the renderer was disconnected, once it has been.
    pub fn disconnect_reason(&self) -> Option<String> {
        self.conn.reason.lock().clone()
    }

    /// Asynchronous messages from this renderer that found no listener in main.
    pub fn unhandled_messages(&self) -> u64 {
        self.conn.unhandled.load(Ordering::Relaxed)
    }

    /// This renderer's traffic so far, and what waits for it.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// # let ipc = ringipc::IpcMain::new()?;
    /// for renderer in ipc.renderers() {
    ///     let s = renderer.stats();
    ///     println!("renderer {}: {} calls, {} queued bytes", renderer.id(), s.sync_calls, s.queued_bytes);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> RendererStats {
        let c = &self.conn.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RendererStats {
            messages: load(&c.messages),
            sync_calls: load(&c.sync_calls),
            bytes_received: load(&c.bytes),
            error_replies: load(&c.errors),
            unhandled_messages: load(&self.conn.unhandled),
            queued_bytes: self.queued_bytes(),
            forwards_refused: load(&c.refused),
            memory_held: self.conn.account.held(),
        }
    }
}

impl fmt::Debug for WebContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebContents")
            .field("id", &self.id())
            .field("process_id", &self.process_id())
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl PartialEq for WebContents {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.conn, &other.conn)
    }
}

impl Eq for WebContents {}
