//! The renderer process: `IpcRenderer`, connecting from the inherited
//! invitation, and the receiver thread that runs renderer-side listeners.

pub(crate) mod replies;

use crate::error::{Error, RemoteFailure, Result, check_channel};
use crate::fragment::{fragment_len, fragments};
use crate::invitation::{ENV_VAR, InheritedFd, Invitation};
use crate::layout::{BellSlot, Layout, RingControl, SegmentHeader};
use crate::lifeline;
use crate::listeners::{ListenerId, Listeners, Snapshot};
use crate::record::{self, ABORT, CONTINUES, Kind, MORE, Violation};
use crate::ring::{Consumer, Producer, PushError, ReadyHint};
use crate::segment::{self, Mapping};
use crate::sync::SharedBytes;
use crate::wait::raw_event::RawEvent;
use crate::wait::spin::AdaptiveSpin;
use crate::wait::{self, Doorbell, Gave, Ring, WaitBackend};
use parking_lot::Mutex;
use replies::Replies;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A message from main taken with [`IpcRenderer::recv`] and friends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The channel it was sent on.
    pub channel: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The renderer that sent it with [`IpcRenderer::send_to`]; `None` if
    /// main sent it.
    pub sender_id: Option<u32>,
}

/// What a renderer-side listener learns about one message from main.
pub struct IpcRendererEvent<'a> {
    channel: &'a str,
    from: u32,
}

impl IpcRendererEvent<'_> {
    /// The channel the message arrived on.
    pub fn channel(&self) -> &str {
        self.channel
    }

    /// The renderer that sent it with [`IpcRenderer::send_to`] (Electron's
    /// `event.senderId`), or `None` if main sent it.
    pub fn sender_id(&self) -> Option<u32> {
        (self.from != 0).then_some(self.from)
    }
}

type RendererListener = dyn Fn(&IpcRendererEvent<'_>, &[u8]) + Send + Sync;

/// The least a waiting thread spins before it parks: a reply that is already
/// on its way (a few hundred nanoseconds) is still caught without a wake-up.
const MIN_SPIN: Duration = Duration::from_micros(2);
/// The most a `send_sync` caller, or a sender waiting for room, spins.
const MAX_CALL_SPIN: Duration = Duration::from_micros(50);
/// The most the receiver thread spins after its last message.
const MAX_RECEIVER_SPIN: Duration = Duration::from_micros(20);

/// A call made with [`IpcRenderer::invoke`] whose answer has not been taken.
///
/// Take it by blocking ([`wait`](Self::wait), [`wait_timeout`](Self::wait_timeout))
/// or as a [`Future`](std::future::Future) on any executor; ringipc needs no
/// async runtime. Dropping it forgets the call: a late answer is discarded.
///
/// The future is woken by whichever thread drains the answer: the receiver
/// thread, or a thread blocked in another call. A renderer without a receiver
/// thread ([`IpcRenderer::from_env_without_receiver`]) wakes it only while the
/// host is in [`IpcRenderer::recv`] or a call; polling it again also looks
/// for the answer itself. Polling it after it completed is an error.
pub struct Invocation {
    inner: Arc<Inner>,
    call_id: u64,
    channel: String,
    seen: u64,
    settled: bool,
}

impl Invocation {
    /// Blocks until the answer comes.
    pub fn wait(self) -> Result<Vec<u8>> {
        self.wait_until(None)
    }

    /// Blocks until the answer comes or `timeout` passes
    /// ([`Error::Timeout`]; the call is then forgotten).
    pub fn wait_timeout(self, timeout: Duration) -> Result<Vec<u8>> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(mut self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        self.settled = true;
        let inner = &self.inner;
        inner.lock_replies().block(self.call_id);
        let mut out = Vec::new();
        inner.await_reply(
            self.call_id,
            &self.channel,
            Ok(()),
            &mut out,
            deadline,
            self.seen,
        )?;
        Ok(out)
    }
}

impl std::future::Future for Invocation {
    type Output = Result<Vec<u8>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        if self.settled {
            return Poll::Ready(Err(Error::WrongMode("the invocation already completed")));
        }
        let inner = self.inner.clone();
        let mut out = Vec::new();
        let mut replies = inner.lock_replies();
        // Whoever drains the ring stashes our answer and wakes the waker;
        // both happen under this lock, so neither can slip between the two.
        let mut got = replies.take_stashed(self.call_id, &mut out).map(Ok);
        let mut drained = None;
        if got.is_none() && replies.in_flight() == 0 && inner.reply_hint.ready() {
            // Nobody blocked drains the ring: look ourselves, so that a
            // future polled in a listener, or with no receiver thread, still
            // finds its answer (messages passed go to the inbox as usual).
            match replies.drain(Some(self.call_id), &mut out) {
                Ok(d) => {
                    got = d.mine.map(Ok);
                    drained = Some(d);
                }
                Err(v) => got = Some(Err(protocol(v))),
            }
        }
        let gone = inner.closed.load(Ordering::Acquire) || inner.stopping.load(Ordering::Acquire);
        if got.is_none() && !gone {
            replies.set_waker(self.call_id, cx.waker());
        }
        drop(replies);
        if let Some(mut d) = drained {
            inner.after_drain(&mut d);
        }
        let got = match got {
            Some(got) => got,
            None if gone => Err(Error::Disconnected),
            None => return Poll::Pending,
        };
        self.settled = true;
        if got.is_err() {
            inner.lock_replies().abandon(self.call_id, &mut Vec::new());
        }
        Poll::Ready(
            inner
                .decode_reply(got, &self.channel, &mut out)
                .map(|()| out),
        )
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        if !self.settled {
            let mut out = Vec::new();
            self.inner.lock_replies().abandon(self.call_id, &mut out);
        }
    }
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("channel", &self.channel)
            .field("call_id", &self.call_id)
            .finish()
    }
}

/// One record to write: a whole message or one fragment of it.
struct Fragment<'a> {
    kind: Kind,
    channel: &'a [u8],
    payload: &'a [u8],
    call_id: u64,
    flags: u16,
}

impl<'a> Fragment<'a> {
    fn whole(kind: Kind, channel: &'a [u8], payload: &'a [u8], call_id: u64) -> Self {
        Fragment {
            kind,
            channel,
            payload,
            call_id,
            flags: 0,
        }
    }
}

/// How long [`Inner::push`] may wait for room in the ring.
#[derive(Clone, Copy)]
enum Patience {
    /// Until the deadline, if any.
    Wait(Option<Instant>),
    /// Not at all ([`IpcRenderer::try_send`]).
    Never,
}

/// Attempts `try_send` makes at the producer lock, which a pusher that is not
/// waiting for room holds for well under a microsecond.
const TRY_LOCK_SPINS: usize = 64;

/// Only one `IpcRenderer` per process: the invitation's descriptors are taken once.
static CONNECTED: AtomicBool = AtomicBool::new(false);

/// The renderer's end of ringipc, like Electron's `ipcRenderer`.
///
/// `Send + Sync`: any number of threads may send and block in
/// [`send_sync`](Self::send_sync) at once. Listeners registered with
/// [`on`](Self::on) run on a receiver thread, in the order main sent the
/// messages. Dropping it disconnects from main.
///
/// ```no_run
/// use ringipc::IpcRenderer;
/// # fn main() -> ringipc::Result<()> {
/// let ipc = IpcRenderer::from_env()?;
/// ipc.on("asynchronous-reply", |_event, arg| {
///     println!("{}", String::from_utf8_lossy(arg)); // "pong"
/// })?;
/// let reply = ipc.send_sync("synchronous-message", "ping")?;
/// println!("{}", String::from_utf8_lossy(&reply)); // "pong"
/// ipc.send("asynchronous-message", "ping")?;
/// # Ok(()) }
/// ```
pub struct IpcRenderer {
    inner: Arc<Inner>,
    receiver: Option<JoinHandle<()>>,
}

struct Inner {
    id: u32,
    /// Most payload bytes one message may have (main's setting).
    max_message: usize,
    requests: Mutex<Producer>,
    /// request.data: main's flag; we kick main's lifeline when it is raised.
    request_data: Doorbell,
    /// request.space: we sleep here when our ring is full.
    request_space: Doorbell,
    /// A `std` mutex, not `parking_lot`: the receiver thread and callers
    /// contend for it now and then, and parking_lot allocates its global wait
    /// table on a thread's first contended park, which would put an allocation
    /// on the hot path. std's futex mutex never allocates.
    replies: std::sync::Mutex<Replies>,
    /// reply.data: the receiver thread sleeps here.
    reply_data: Doorbell,
    /// reply.calls: `send_sync` callers sleep here.
    reply_calls: Doorbell,
    /// reply.space: main's flag while it has an outbox for us.
    reply_space: Doorbell,
    reply_hint: ReadyHint,
    /// Spin budgets learned from how long replies, room in the request ring,
    /// and messages from main recently took to come.
    call_spin: AdaptiveSpin,
    space_spin: AdaptiveSpin,
    receiver_spin: AdaptiveSpin,
    /// Bumped whenever a drainer stashes a reply for another caller.
    stashed: AtomicU64,
    /// Sync calls in flight, kept by `Replies`; read here without the lock.
    in_flight: Arc<AtomicUsize>,
    /// Set whenever a sync caller leaves messages in the inbox.
    inbox_ready: AtomicBool,
    /// Main is gone (or broke the protocol). A plain flag, like `stopping`: no
    /// data is published through either; waiters re-check them after waking.
    closed: AtomicBool,
    stopping: AtomicBool,
    next_call: AtomicU64,
    listeners: Listeners<RendererListener>,
    /// Pumped mode: the batch being handed out by `recv`, and how far.
    pumped: Mutex<(Vec<u8>, usize)>,
    unhandled: AtomicU64,
    lifeline: Arc<OwnedFd>,
    /// Declared last: dropped after everything that points into it.
    _mapping: Mapping,
}

impl IpcRenderer {
    /// Connects to main using the invitation that [`crate::IpcMain::spawn`]
    /// left in this process's environment.
    ///
    /// Fails with [`Error::NotARenderer`] if there is none, if it was meant for
    /// another process (this one's parent is not the main that wrote it), or if
    /// it was already used.
    pub fn from_env() -> Result<IpcRenderer> {
        Self::connect_from_env(true)
    }

    fn connect_from_env(receiver_thread: bool) -> Result<IpcRenderer> {
        let value = std::env::var(ENV_VAR).map_err(|_| {
            Error::NotARenderer(format!(
                "{ENV_VAR} is not set: this process was not started by IpcMain::spawn"
            ))
        })?;
        let inv = Invitation::decode(&value).map_err(Error::NotARenderer)?;
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() } as u32;
        if parent != inv.main_pid {
            return Err(Error::NotARenderer(format!(
                "the invitation is for a child of pid {}, but this process's parent is {parent}",
                inv.main_pid
            )));
        }
        if CONNECTED.swap(true, Ordering::AcqRel) {
            return Err(Error::NotARenderer(
                "this process is already connected".into(),
            ));
        }
        // Until ownership of the descriptors is taken, failing leaves the
        // invitation usable; after, it is spent even if connecting fails.
        let (memfd, lifeline) =
            claim(&inv).inspect_err(|_| CONNECTED.store(false, Ordering::Release))?;
        connect(&inv, memfd, lifeline, receiver_thread)
    }

    /// [`from_env`](Self::from_env) for a host with its own event loop: no
    /// receiver thread is started, listeners registered with
    /// [`on`](Self::on) are not called, and the host takes messages from main
    /// with [`recv`](Self::recv), [`try_recv`](Self::try_recv) or
    /// [`recv_timeout`](Self::recv_timeout). Calls and sends work as usual.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcRenderer::from_env_without_receiver()?;
    /// loop {
    ///     // ... the host's own work ...
    ///     while let Some(message) = ipc.try_recv()? {
    ///         println!("{}: {} bytes", message.channel, message.payload.len());
    ///     }
    /// #   break;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn from_env_without_receiver() -> Result<IpcRenderer> {
        Self::connect_from_env(false)
    }

    /// Waits for the next message from main (pumped mode, see
    /// [`from_env_without_receiver`](Self::from_env_without_receiver)).
    /// Fails with [`Error::Disconnected`] once main is gone.
    pub fn recv(&self) -> Result<Message> {
        self.pump(None)
    }

    /// The next message from main if one is there, without waiting.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        match self.pump(Some(Instant::now())) {
            Ok(m) => Ok(Some(m)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`recv`](Self::recv) that gives up after `timeout` with `Ok(None)`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Message>> {
        match self.pump(Some(Instant::now() + timeout)) {
            Ok(m) => Ok(Some(m)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn pump(&self, deadline: Option<Instant>) -> Result<Message> {
        if self.receiver.is_some() {
            return Err(Error::Protocol(
                "recv needs a renderer connected with from_env_without_receiver".into(),
            ));
        }
        // Another thread may be waiting in `recv`, holding the batch: wait for
        // it no longer than our own deadline.
        let mut pumped = match deadline {
            None => self.inner.pumped.lock(),
            Some(d) => self.inner.pumped.try_lock_until(d).ok_or(Error::Timeout)?,
        };
        loop {
            let (batch, at) = &mut *pumped;
            if let Some(m) = replies::messages(&batch[*at..]).next() {
                *at += replies::INBOX_PREFIX + m.channel.len() + m.payload.len();
                let message = Message {
                    channel: String::from_utf8_lossy(m.channel).into_owned(),
                    payload: m.payload.to_vec(),
                    sender_id: (m.from != 0).then_some(m.from),
                };
                return Ok(message);
            }
            batch.clear();
            *at = 0;
            self.inner.next_batch(batch, deadline)?;
        }
    }

    /// Main's id for this renderer (the same as [`crate::WebContents::id`]).
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// Sends an asynchronous message to main's listeners of `channel`.
    ///
    /// Blocks only while the ring to main is full (backpressure: spinning
    /// briefly, then sleeping until main frees room), and fails with
    /// [`Error::Disconnected`] if main goes away meanwhile.
    pub fn send(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<()> {
        check_channel(channel)?;
        self.inner.push(
            Kind::Message,
            channel,
            arg.as_ref(),
            0,
            Patience::Wait(None),
        )
    }

    /// Sends a plain-old-data value as it lies in memory (no encoding);
    /// main reads it with [`crate::pod::read_pod`].
    pub fn send_pod<T: crate::pod::Pod>(&self, channel: &str, value: &T) -> Result<()> {
        self.send(channel, bytemuck::bytes_of(value))
    }

    /// [`send_sync`](Self::send_sync) of a plain-old-data value, reading a
    /// plain-old-data return value; [`Error::Protocol`] if the reply is not
    /// the size of an `R`.
    pub fn send_sync_pod<T: crate::pod::Pod, R: crate::pod::Pod>(
        &self,
        channel: &str,
        value: &T,
    ) -> Result<R> {
        let reply = self.send_sync(channel, bytemuck::bytes_of(value))?;
        crate::pod::read_pod(&reply).ok_or_else(|| {
            Error::Protocol(format!(
                "reply of {} bytes on '{channel}' is not a {}",
                reply.len(),
                std::any::type_name::<R>()
            ))
        })
    }

    /// Sends a message to another renderer's listeners of `channel`, through
    /// main (Electron's `ipcRenderer.sendTo`): only if main's policy allows
    /// it ([`crate::IpcMain::allow_forwarding`]; by default nothing is
    /// forwarded). The receiver's event names this renderer
    /// ([`IpcRendererEvent::sender_id`]). A refused or undeliverable message
    /// is counted and logged by main, not reported here: like `send`, this
    /// only waits for room in the ring.
    pub fn send_to(&self, renderer_id: u32, channel: &str, arg: impl AsRef<[u8]>) -> Result<()> {
        check_channel(channel)?;
        self.inner.push(
            Kind::SendTo,
            channel,
            arg.as_ref(),
            renderer_id.into(),
            Patience::Wait(None),
        )
    }

    /// Sends any `serde` value, compactly encoded (feature `serde`; see
    /// the `value` module). Several arguments travel as a tuple.
    #[cfg(feature = "serde")]
    pub fn send_value<T: serde::Serialize + ?Sized>(&self, channel: &str, value: &T) -> Result<()> {
        self.send(channel, crate::value::encode(value)?)
    }

    /// [`send_sync`](Self::send_sync) of a `serde` value, decoding the return
    /// value as an `R` (feature `serde`).
    #[cfg(feature = "serde")]
    pub fn send_sync_value<T, R>(&self, channel: &str, value: &T) -> Result<R>
    where
        T: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        crate::value::decode(&self.send_sync(channel, crate::value::encode(value)?)?)
    }

    /// Sends a `serde` value as JSON, for peers that speak it (feature `serde`).
    #[cfg(feature = "serde")]
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, channel: &str, value: &T) -> Result<()> {
        self.send(channel, crate::value::encode_json(value)?)
    }

    /// [`send`](Self::send) that waits for room no longer than `timeout`,
    /// then fails with [`Error::Timeout`] having sent nothing.
    pub fn send_timeout(
        &self,
        channel: &str,
        arg: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<()> {
        check_channel(channel)?;
        let deadline = Instant::now() + timeout;
        self.inner.push(
            Kind::Message,
            channel,
            arg.as_ref(),
            0,
            Patience::Wait(Some(deadline)),
        )
    }

    /// [`send`](Self::send) that never waits: if the ring to main has no room
    /// for the message (or another thread is waiting for room), it fails with
    /// [`Error::Full`], saying how much room the message needs, and sends
    /// nothing. A message too long for one record (it must travel in
    /// fragments) is always refused this way, with a `needed` larger than the
    /// ring: send it with [`send`](Self::send) or
    /// [`send_timeout`](Self::send_timeout).
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// # let ipc = ringipc::IpcRenderer::from_env()?;
    /// let frame = vec![0u8; 4096];
    /// match ipc.try_send("frame", &frame) {
    ///     Ok(()) => {}
    ///     Err(ringipc::Error::Full { .. }) => { /* drop this frame, or keep it for later */ }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_send(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<()> {
        check_channel(channel)?;
        self.inner
            .push(Kind::Message, channel, arg.as_ref(), 0, Patience::Never)
    }

    /// Sends `arg` to main's listeners of `channel` and blocks until one of
    /// them sets a return value (Electron's `ipcRenderer.sendSync`).
    ///
    /// Fails at once with [`Error::NoListener`] if main has no listener on the
    /// channel, with [`Error::NoReturnValue`] if none set a value, and with
    /// [`Error::HandlerPanicked`] if one panicked. Messages main sends while
    /// this call is blocked are kept and delivered to listeners afterwards.
    pub fn send_sync(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.inner.call(channel, arg.as_ref(), &mut out, None)?;
        Ok(out)
    }

    /// [`send_sync`](Self::send_sync) that gives up with [`Error::Timeout`]
    /// after `timeout`. A reply that arrives later is discarded.
    pub fn send_sync_timeout(
        &self,
        channel: &str,
        arg: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.inner.call(
            channel,
            arg.as_ref(),
            &mut out,
            Some(Instant::now() + timeout),
        )?;
        Ok(out)
    }

    /// [`send_sync`](Self::send_sync) writing the return value into `out`,
    /// whose capacity is reused: the allocation-free form for hot loops.
    pub fn send_sync_into(
        &self,
        channel: &str,
        arg: impl AsRef<[u8]>,
        out: &mut Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.inner.call(
            channel,
            arg.as_ref(),
            out,
            timeout.map(|t| Instant::now() + t),
        )
    }

    /// Calls the handler main registered for `channel` with
    /// [`crate::IpcMain::handle`] (Electron's `ipcRenderer.invoke`), without
    /// waiting: the request is on its way when this returns, and the
    /// [`Invocation`] gives the answer through [`Invocation::wait`],
    /// [`Invocation::wait_timeout`], or `.await` on any executor.
    ///
    /// Fails at once (through the invocation) with [`Error::NoHandler`] if
    /// main has no handler, and with [`Error::HandlerFailed`], carrying the
    /// handler's error text, if it returned an error.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcRenderer::from_env()?;
    /// let pending = ipc.invoke("read-file", "notes.txt")?;
    /// // ... other work ...
    /// match pending.wait() {
    ///     Ok(contents) => println!("{} bytes", contents.len()),
    ///     Err(ringipc::Error::HandlerFailed { message, .. }) => eprintln!("main says: {message}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn invoke(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<Invocation> {
        check_channel(channel)?;
        let inner = &self.inner;
        let call_id = inner.next_call.fetch_add(1, Ordering::Relaxed);
        let seen = inner.stashed.load(Ordering::Acquire);
        inner.lock_replies().expect(call_id, false);
        let invocation = Invocation {
            inner: inner.clone(),
            call_id,
            channel: channel.to_owned(),
            seen,
            settled: false,
        };
        // Dropping `invocation` on failure forgets the call.
        inner.push(
            Kind::Invoke,
            channel,
            arg.as_ref(),
            call_id,
            Patience::Wait(None),
        )?;
        Ok(invocation)
    }

    /// Registers `listener` for messages main sends on `channel`. Listeners run
    /// on the receiver thread in arrival order. Messages that arrive while no
    /// listener is registered are counted ([`Self::unhandled_messages`]) and
    /// dropped, as in Electron.
    pub fn on<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&IpcRendererEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self.inner.listeners.add(channel, Arc::new(listener), false))
    }

    /// [`on`](Self::on) for the next message on `channel` only (Electron's
    /// `ipcRenderer.once`): the listener is removed before it runs.
    pub fn once<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&IpcRendererEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self.inner.listeners.add(channel, Arc::new(listener), true))
    }

    /// Removes a listener by the id [`Self::on`] or [`Self::once`] returned.
    /// Returns whether it was still registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.inner.listeners.remove(id)
    }

    /// Removes every listener of `channel`, or of every channel with `None`
    /// (Electron's `removeAllListeners`). Returns how many were removed.
    pub fn remove_all_listeners(&self, channel: Option<&str>) -> usize {
        self.inner.listeners.remove_all(channel)
    }

    /// Listeners registered on `channel` now (Electron's `listenerCount`).
    pub fn listener_count(&self, channel: &str) -> usize {
        self.inner.listeners.count(channel)
    }

    /// Messages from main that arrived on a channel with no listener.
    pub fn unhandled_messages(&self) -> u64 {
        self.inner.unhandled.load(Ordering::Relaxed)
    }

    /// Whether main is still there.
    pub fn is_connected(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire)
    }
}

impl Drop for IpcRenderer {
    fn drop(&mut self) {
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.reply_data.ring();
        self.inner.wake_futures();
        if let Some(t) = self.receiver.take() {
            // The last handle may be dropped by a listener, on the receiver
            // thread itself: it then stops after this message instead.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        // Dropping the last `Arc<Inner>` closes the lifeline: main sees EOF.
    }
}

/// Checks that the invitation's descriptors are open and name the files main
/// meant, then takes ownership of them.
fn claim(inv: &Invitation) -> Result<(OwnedFd, OwnedFd)> {
    for InheritedFd { fd, id } in [inv.segment, inv.lifeline] {
        match crate::fd::identity(fd) {
            Ok(found) if found == id => {}
            Ok(_) => {
                return Err(Error::NotARenderer(format!(
                    "descriptor {fd} does not name the file main passed"
                )));
            }
            Err(e) => return Err(Error::NotARenderer(format!("descriptor {fd}: {e}"))),
        }
        // Keep our own children from inheriting the connection.
        crate::fd::set_cloexec(fd, true)?;
    }
    // SAFETY: both descriptors are open, distinct (checked by `decode`), name
    // the files main created for us, and the CONNECTED flag makes this the only
    // place that ever takes ownership of them.
    let memfd = unsafe { OwnedFd::from_raw_fd(inv.segment.fd) };
    // SAFETY: as above.
    let lifeline = unsafe { OwnedFd::from_raw_fd(inv.lifeline.fd) };
    Ok((memfd, lifeline))
}

fn connect(
    inv: &Invitation,
    memfd: OwnedFd,
    lifeline: OwnedFd,
    receiver_thread: bool,
) -> Result<IpcRenderer> {
    crate::wait::spin::prepare();
    let not = |what: &str, e: std::io::Error| Error::NotARenderer(format!("{what}: {e}"));
    let file_len = segment::file_len(memfd.as_fd()).map_err(|e| not("segment", e))?;
    if file_len < inv.segment_len as u64 {
        return Err(Error::NotARenderer(format!(
            "segment is {file_len} bytes, expected {}",
            inv.segment_len
        )));
    }
    let mapping =
        Mapping::map(memfd.as_fd(), inv.segment_len).map_err(|e| not("mapping the segment", e))?;
    drop(memfd);
    // SAFETY: the header lies at offset 0 of the mapping; main wrote it before
    // spawning us. Copied out, never referenced.
    let header: SegmentHeader = unsafe { mapping.at::<SegmentHeader>(0).read() };
    let layout = Layout::from_header(&header, mapping.len()).map_err(Error::NotARenderer)?;
    let backend = WaitBackend::from_wire(header.wait_backend).ok_or_else(|| {
        Error::NotARenderer(format!("unknown wait backend {}", header.wait_backend))
    })?;

    let ring = |control: usize, data: usize, capacity: usize| {
        // SAFETY: `range` checked the bytes lie inside the mapping, which `Inner`
        // keeps alive as long as the halves built from them.
        (mapping.at::<RingControl>(control).cast_const(), unsafe {
            SharedBytes::new(mapping.range(data, capacity), capacity)
        })
    };
    let (req_ctrl, req_bytes) = ring(
        layout.request_control,
        layout.request_data,
        layout.request_capacity,
    );
    let (rep_ctrl, rep_bytes) = ring(
        layout.reply_control,
        layout.reply_data,
        layout.reply_capacity,
    );
    let event = |slot: BellSlot| -> Result<Ring> {
        if backend != WaitBackend::RawSyncEvent {
            return Ok(Ring::Futex);
        }
        let ptr = mapping.range(layout.event_offset(slot), crate::layout::EVENT_SLOT);
        // SAFETY: main initialised an event in this slot before spawning us.
        Ok(Ring::Event(
            unsafe { RawEvent::open(ptr) }?,
            Default::default(),
        ))
    };
    let lifeline = Arc::new(lifeline);
    let kick = || Ring::Kick(lifeline.clone());
    // The receiver thread sleeps in `poll` on the lifeline (main kicks it
    // there) and on this pair (our own threads kick it here).
    let (local_sleep, local_wake) = lifeline::pair()?;
    let reply_data_ring = Ring::Poll {
        local: Arc::new(local_wake),
        sleep_on: [lifeline.clone(), Arc::new(local_sleep)],
    };
    let (request_space_ring, reply_calls_ring) =
        (event(BellSlot::RequestSpace)?, event(BellSlot::ReplyCalls)?);
    // SAFETY: control blocks are atomics only, inside `mapping`.
    let req_words = unsafe { &*req_ctrl };
    // SAFETY: as above.
    let rep_words = unsafe { &*rep_ctrl };
    // SAFETY: the words live in `mapping`, which `Inner` drops after the doorbells.
    let request_data = unsafe { Doorbell::new(&req_words.data, kick()) };
    // SAFETY: as above.
    let request_space = unsafe { Doorbell::new(&req_words.space, request_space_ring) };
    // SAFETY: as above.
    let reply_data = unsafe { Doorbell::new(&rep_words.data, reply_data_ring) };
    // SAFETY: as above.
    let reply_calls = unsafe { Doorbell::new(&rep_words.calls, reply_calls_ring) };
    // SAFETY: as above.
    let reply_space = unsafe { Doorbell::new(&rep_words.space, kick()) };
    // SAFETY: a fresh ring of which we are the only producer; `Inner` keeps the
    // mapping alive.
    let producer = unsafe { Producer::new(req_ctrl, req_bytes) };
    // SAFETY: a fresh ring of which we are the only consumer; as above.
    let consumer = unsafe { Consumer::new(rep_ctrl, rep_bytes) };
    let reply_hint = consumer.hint();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_message = header.max_message_len as usize;
    let inner = Arc::new(Inner {
        id: header.renderer_id,
        max_message,
        requests: Mutex::new(producer),
        request_data,
        request_space,
        replies: std::sync::Mutex::new(Replies::new(consumer, in_flight.clone(), max_message)),
        reply_data,
        reply_calls,
        reply_space,
        reply_hint,
        call_spin: AdaptiveSpin::new(MIN_SPIN, MAX_CALL_SPIN),
        space_spin: AdaptiveSpin::new(MIN_SPIN, MAX_CALL_SPIN),
        receiver_spin: AdaptiveSpin::new(MIN_SPIN, MAX_RECEIVER_SPIN),
        stashed: AtomicU64::new(0),
        in_flight,
        inbox_ready: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        next_call: AtomicU64::new(1),
        listeners: Listeners::default(),
        pumped: Mutex::new((Vec::new(), 0)),
        unhandled: AtomicU64::new(0),
        lifeline,
        _mapping: mapping,
    });
    if !receiver_thread {
        return Ok(IpcRenderer {
            inner,
            receiver: None,
        });
    }
    let for_thread = inner.clone();
    // Return only once the receiver thread runs: the renderer is then fully up,
    // and the thread's own start-up (which allocates) is not left to land in
    // the caller's first hot loop.
    let started = Arc::new(std::sync::Barrier::new(2));
    let started_too = started.clone();
    let receiver = std::thread::Builder::new()
        .name("ringipc-receiver".into())
        .spawn(move || {
            started_too.wait();
            drop(started_too);
            for_thread.receive_loop()
        })?;
    started.wait();
    Ok(IpcRenderer {
        inner,
        receiver: Some(receiver),
    })
}

impl Inner {
    fn alive(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && lifeline::peer_alive(&self.lifeline)
    }

    fn lock_replies(&self) -> std::sync::MutexGuard<'_, Replies> {
        // A panic while holding it (a bug) leaves `Replies` consistent enough:
        // every method leaves it valid between statements.
        self.replies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that main is gone and wakes every thread waiting on it.
    #[cold]
    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.reply_data.ring();
            self.reply_calls.ring();
            self.request_space.ring();
            self.wake_futures();
        }
    }

    /// Wakes every future waiting for an answer, so that it sees the
    /// connection is over (main gone, or this renderer stopping).
    fn wake_futures(&self) {
        let wakers = self.lock_replies().take_wakers();
        for w in wakers {
            w.wake();
        }
    }

    /// Writes one message or sync request to main, in fragments if it is
    /// longer than one record can be, waiting for room while the ring is
    /// full as `patience` allows.
    fn push(
        &self,
        kind: Kind,
        channel: &str,
        payload: &[u8],
        call_id: u64,
        patience: Patience,
    ) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Disconnected);
        }
        if payload.len() > self.max_message {
            return Err(Error::MessageTooLarge {
                len: payload.len(),
                max: self.max_message,
            });
        }
        let whole = |channel_len: usize| {
            (record::record_len(channel_len as u64, payload.len() as u64) as usize)
                .saturating_add(record::COMMIT_LEN)
        };
        // Another thread may hold the producer while it waits for room; a
        // caller with a deadline waits for the lock no longer than that, and
        // one that never waits gives a pusher that is not stuck a moment.
        let mut producer = match patience {
            Patience::Wait(None) => self.requests.lock(),
            Patience::Wait(Some(d)) => self.requests.try_lock_until(d).ok_or(Error::Timeout)?,
            Patience::Never => (0..TRY_LOCK_SPINS)
                .find_map(|_| {
                    std::hint::spin_loop();
                    self.requests.try_lock()
                })
                .ok_or(Error::Full {
                    needed: whole(channel.len()),
                    free: 0,
                })?,
        };
        let single = producer.max_payload(channel.len());
        if payload.len() <= single {
            let one = Fragment::whole(kind, channel.as_bytes(), payload, call_id);
            self.push_record(&mut producer, one, patience, 0)?;
            drop(producer);
            self.request_data.notify();
            return Ok(());
        }
        let deadline = match patience {
            Patience::Wait(d) => d,
            // A message that must be split never fits at once.
            Patience::Never => {
                let free = producer.free_now().map_err(protocol)? as usize;
                return Err(Error::Full {
                    needed: whole(channel.len()),
                    free,
                });
            }
        };
        // The ring stays ours until the last fragment, so no other record
        // lands between them (see `fragment.rs`).
        for (range, flags) in fragments(payload.len(), fragment_len(single)) {
            let first = flags & CONTINUES == 0;
            let piece = Fragment {
                kind,
                channel: if first { channel.as_bytes() } else { &[] },
                payload: &payload[range],
                call_id,
                flags,
            };
            // Until the last fragment, keep room for an abort record, so a
            // deadline that passes half way can end the message at once.
            let reserve = if deadline.is_some() && flags & MORE != 0 {
                record::ABORT_RECORD
            } else {
                0
            };
            match self.push_record(&mut producer, piece, patience, reserve) {
                Ok(()) => self.request_data.notify(),
                Err(Error::Timeout) if !first => {
                    let abort = Fragment {
                        flags: CONTINUES | ABORT,
                        ..Fragment::whole(kind, &[], &[], call_id)
                    };
                    // Room was kept for it: this cannot wait.
                    self.push_record(&mut producer, abort, Patience::Never, 0)?;
                    self.request_data.notify();
                    return Err(Error::Timeout);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes one record, waiting as `patience` allows until the ring has room
    /// for it and `reserve` bytes more. The caller notifies main.
    #[inline]
    fn push_record(
        &self,
        producer: &mut Producer,
        r: Fragment<'_>,
        patience: Patience,
        reserve: usize,
    ) -> Result<()> {
        let needed = (record::record_len(r.channel.len() as u64, r.payload.len() as u64) as usize)
            .saturating_add(record::COMMIT_LEN);
        let wanted = (needed + reserve) as u64;
        loop {
            match producer.has_room(wanted) {
                Ok(true) => {
                    return match producer
                        .try_push_flagged(r.kind, r.channel, r.payload, r.call_id, r.flags)
                    {
                        Ok(()) => Ok(()),
                        Err(PushError::Violation(v)) => Err(protocol(v)),
                        Err(PushError::TooLarge { len, capacity }) => {
                            Err(Error::MessageTooLarge { len, max: capacity })
                        }
                        Err(PushError::Full { .. }) => unreachable!("room was checked"),
                    };
                }
                Ok(false) => {}
                Err(v) => return Err(protocol(v)),
            }
            let deadline = match patience {
                Patience::Never => {
                    let free = producer.free_now().map_err(protocol)? as usize;
                    return Err(Error::Full { needed, free });
                }
                Patience::Wait(d) => d,
            };
            let room = wait::wait_for(
                &self.request_space,
                &self.space_spin,
                deadline,
                || match producer.has_room(wanted) {
                    Ok(true) => Some(Ok(())),
                    Ok(false) if self.closed.load(Ordering::Acquire) => {
                        Some(Err(Error::Disconnected))
                    }
                    Ok(false) => None,
                    Err(v) => Some(Err(protocol(v))),
                },
                || self.alive(),
            );
            match room {
                Ok(r) => r?,
                Err(Gave::Up) => return Err(Error::Timeout),
                Err(Gave::PeerGone) => {
                    self.close();
                    return Err(Error::Disconnected);
                }
            }
        }
    }

    /// One synchronous call; the reply lands in `out`.
    fn call(
        &self,
        channel: &str,
        arg: &[u8],
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        check_channel(channel)?;
        let call_id = self.next_call.fetch_add(1, Ordering::Relaxed);
        // Taken before the request leaves: another thread may route our reply to
        // the stash before `push` even returns, and that must count as news.
        let seen = self.stashed.load(Ordering::Acquire);
        self.lock_replies().expect(call_id, true);
        let pushed = self.push(
            Kind::SyncRequest,
            channel,
            arg,
            call_id,
            Patience::Wait(deadline),
        );
        self.await_reply(call_id, channel, pushed, out, deadline, seen)
    }

    /// Waits, blocked, for the reply to `call_id` (whose request `pushed`
    /// reports on), and decodes it into `out` or an error. Settles the call
    /// whatever happens.
    #[inline]
    fn await_reply(
        &self,
        call_id: u64,
        channel: &str,
        pushed: Result<()>,
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
        mut seen: u64,
    ) -> Result<()> {
        let got = match pushed {
            Err(e) => Err(e),
            Ok(()) => wait::wait_for(
                &self.reply_calls,
                &self.call_spin,
                deadline,
                || self.try_take_reply(call_id, out, &mut seen),
                || self.alive(),
            )
            .unwrap_or_else(|gave| {
                Err(match gave {
                    Gave::Up => Error::Timeout,
                    Gave::PeerGone => Error::Disconnected,
                })
            }),
        };
        let got = match got {
            Ok(is_error) => Ok(is_error),
            Err(e) => {
                // A reply stashed meanwhile still wins over a timeout or a death.
                let mut replies = self.lock_replies();
                let stashed = replies.abandon(call_id, out);
                drop(replies);
                stashed.ok_or(e)
            }
        };
        self.call_finished();
        self.decode_reply(got, channel, out)
    }

    /// The caller's view of a reply: `Ok` with the value in `out`, or the
    /// error main sent or the wait ran into.
    #[inline]
    fn decode_reply(&self, got: Result<bool>, channel: &str, out: &mut Vec<u8>) -> Result<()> {
        match got {
            Ok(false) => Ok(()),
            Ok(true) => {
                let err = RemoteFailure::decode(out, channel)
                    .unwrap_or_else(|| protocol(Violation::BadErrorReply));
                out.clear();
                Err(err)
            }
            Err(e) => {
                if matches!(e, Error::Disconnected) {
                    self.close();
                }
                out.clear();
                Err(e)
            }
        }
    }

    /// One look for `call_id`'s reply: in the stash, then in the ring.
    fn try_take_reply(
        &self,
        call_id: u64,
        out: &mut Vec<u8>,
        seen: &mut u64,
    ) -> Option<Result<bool>> {
        if self.closed.load(Ordering::Acquire) {
            return Some(Err(Error::Disconnected));
        }
        // SYNC(stashed): Acquire ← Release in `after_drain`.
        let stashed = self.stashed.load(Ordering::Acquire);
        if !self.reply_hint.ready() && stashed == *seen {
            return None;
        }
        *seen = stashed;
        let mut replies = self.lock_replies();
        if let Some(is_error) = replies.take_stashed(call_id, out) {
            return Some(Ok(is_error));
        }
        let drained = replies.drain(Some(call_id), out);
        drop(replies);
        match drained {
            Ok(mut d) => {
                self.after_drain(&mut d);
                d.mine.map(Ok)
            }
            Err(v) => Some(Err(protocol(v))),
        }
    }

    /// After consuming from the reply ring: tell main about freed room if it
    /// waits for it, and wake the threads that records were routed to.
    fn after_drain(&self, d: &mut replies::Drained) {
        for waker in d.wakers.drain(..) {
            waker.wake();
        }
        self.reply_space.notify();
        if d.to_stash {
            // SYNC(stashed): Release → Acquire in `try_take_reply`; the stash entry
            // was written under the `replies` lock before this.
            self.stashed.fetch_add(1, Ordering::Release);
            self.reply_calls.notify();
        }
        if d.to_inbox {
            // SYNC(inbox_ready): Release → Acquire in the receiver's wait; the inbox
            // was filled under the `replies` lock before this.
            self.inbox_ready.store(true, Ordering::Release);
            self.reply_data.notify();
        }
    }

    /// When the last call in flight ends, the ring is the receiver thread's
    /// again: wake it if a record is already waiting (else main's next
    /// message will).
    fn call_finished(&self) {
        if self.in_flight.load(Ordering::Relaxed) != 0 {
            return;
        }
        // SYNC(in_flight): ↔ the fence in the receiver's `prepare` (Dekker pair):
        // either it sees `in_flight == 0` or we see the record and ring it.
        fence(Ordering::SeqCst);
        if self.reply_hint.ready() {
            self.reply_data.notify();
        }
    }

    /// What the receiver thread waits for.
    fn receiver_has_work(&self) -> bool {
        (self.reply_hint.ready() && self.in_flight.load(Ordering::Relaxed) == 0)
            // SYNC(inbox_ready): Acquire ← Release in `after_drain`.
            || self.inbox_ready.load(Ordering::Acquire)
            || self.stopping.load(Ordering::Acquire)
            || self.closed.load(Ordering::Acquire)
    }

    fn receive_loop(&self) {
        let mut batch = Vec::new();
        let mut listeners = Snapshot::new(&self.listeners);
        while self.next_batch(&mut batch, None).is_ok() {
            self.deliver(&batch, &mut listeners);
            batch.clear();
        }
    }

    /// Fills `batch` (empty on entry) with the next messages from main,
    /// waiting for some until `deadline`: the receiver thread's loop, and a
    /// host's own when it pumps ([`IpcRenderer::recv`]). Fails with
    /// [`Error::Timeout`] at the deadline and [`Error::Disconnected`] once
    /// main is gone or this renderer stops.
    fn next_batch(&self, batch: &mut Vec<u8>, deadline: Option<Instant>) -> Result<()> {
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return Err(Error::Disconnected);
            }
            self.inbox_ready.store(false, Ordering::Relaxed);
            let mut replies = self.lock_replies();
            // With threads blocked on replies they drain (and route
            // messages here).
            let drained = if replies.in_flight() == 0 {
                replies.drain_messages()
            } else {
                Ok(replies::Drained::default())
            };
            std::mem::swap(&mut replies.inbox, batch);
            drop(replies);
            match drained {
                Ok(mut d) if d.consumed => self.after_drain(&mut d),
                Ok(_) => {}
                Err(v) => {
                    log::error!("main broke the protocol: {v}");
                    self.close();
                    return Err(Error::Disconnected);
                }
            }
            if !batch.is_empty() {
                return Ok(());
            }
            let woke = wait::wait_for(
                &self.reply_data,
                &self.receiver_spin,
                deadline,
                || self.receiver_has_work().then_some(()),
                || self.alive(),
            );
            match woke {
                _ if self.closed.load(Ordering::Acquire) => {
                    self.close();
                    return Err(Error::Disconnected);
                }
                Ok(()) => {}
                Err(Gave::Up) => return Err(Error::Timeout),
                Err(Gave::PeerGone) => {
                    self.close();
                    return Err(Error::Disconnected);
                }
            }
        }
    }

    fn deliver(&self, batch: &[u8], listeners: &mut Snapshot<RendererListener>) {
        for replies::Inboxed {
            channel,
            payload,
            from,
        } in replies::messages(batch)
        {
            let Ok(channel) = std::str::from_utf8(channel) else {
                log::error!("main sent a message on a channel that is not UTF-8");
                continue;
            };
            let list = listeners.refresh(&self.listeners).get(channel);
            if list.is_empty() {
                self.unhandled.fetch_add(1, Ordering::Relaxed);
                log::debug!("no listener for message on '{channel}'");
                continue;
            }
            let event = IpcRendererEvent { channel, from };
            for entry in list {
                // A `once` listener runs only for the message that removes it.
                if entry.once && !self.listeners.remove(entry.id) {
                    continue;
                }
                let listener = &entry.f;
                if catch_unwind(AssertUnwindSafe(|| listener(&event, payload))).is_err() {
                    log::error!("renderer listener for '{channel}' panicked");
                }
            }
        }
    }
}

fn protocol(v: Violation) -> Error {
    Error::Protocol(v.to_string())
}
