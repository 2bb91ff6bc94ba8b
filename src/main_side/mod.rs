//! The main process: `IpcMain`, its configuration, and spawning renderers.

mod dispatcher;
mod event;
mod lifecycle;
mod web_contents;

pub use event::{IpcMainEvent, Responder};
pub use web_contents::{RendererStats, WebContents};

use crate::error::{Error, Result, check_channel};
use crate::invitation::{InheritedFd, Invitation};
use crate::layout::{BellSlot, EVENT_SLOT, Layout, RingControl, SegmentHeader};
use crate::lifeline;
use crate::listeners::{ListenerId, Listeners};
use crate::ring::{Consumer, Producer};
use crate::segment::{self, Mapping};
use crate::sync::SharedBytes;
use crate::wait::raw_event::RawEvent;
use crate::wait::{Doorbell, Ring, WaitBackend};
use dispatcher::{Control, Dispatcher, NewRenderer};
use parking_lot::Mutex;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use web_contents::{Connection, Outgoing};

/// A main-side listener: `Fn(&mut IpcMainEvent, &[u8])`.
pub(crate) type MainListener = dyn Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync;
/// A handler with its return value written into the event's buffer and its
/// error turned into text.
pub(crate) type MainHandler =
    dyn Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<(), String> + Send + Sync;

/// Settings for an [`IpcMain`] and the renderers it spawns.
///
/// ```
/// use ringipc::{Config, WaitBackend};
/// let config = Config::default()
///     .request_ring_capacity(1 << 20)
///     .wait_backend(WaitBackend::RawSyncEvent);
/// assert_eq!(config.get_request_ring_capacity(), 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    request_capacity: usize,
    reply_capacity: usize,
    wait_backend: WaitBackend,
    outbox_limit: usize,
    max_message_len: u32,
    dispatcher_spin: Duration,
    dispatcher_thread: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            request_capacity: 256 << 10,
            reply_capacity: 256 << 10,
            wait_backend: WaitBackend::default(),
            outbox_limit: 512 << 20,
            max_message_len: 256 << 20,
            dispatcher_spin: Duration::from_micros(50),
            dispatcher_thread: true,
        }
    }
}

impl Config {
    /// Bytes in each renderer's renderer → main ring: a power of two from
    /// 4 KiB to 1 GiB. Default 256 KiB. Messages longer than a ring takes in
    /// one record travel in fragments, so this bounds memory and batching,
    /// not message size.
    pub fn request_ring_capacity(mut self, bytes: usize) -> Self {
        self.request_capacity = bytes;
        self
    }

    /// Bytes in each renderer's main → renderer ring; as above.
    pub fn reply_ring_capacity(mut self, bytes: usize) -> Self {
        self.reply_capacity = bytes;
        self
    }

    /// How renderers sleep and are woken. Default [`WaitBackend::Futex`].
    pub fn wait_backend(mut self, backend: WaitBackend) -> Self {
        self.wait_backend = backend;
        self
    }

    /// Bytes of records main queues for one renderer whose ring is full
    /// (messages from [`WebContents::send`] and replies) before it
    /// disconnects that renderer as not reading. Default 512 MiB, twice the
    /// default [`max_message_len`](Self::max_message_len): keep it well above
    /// that (queued fragments also count their headers), or one large message
    /// can cost a renderer its connection.
    pub fn outbox_limit(mut self, bytes: usize) -> Self {
        self.outbox_limit = bytes;
        self
    }

    /// Most payload bytes one message or return value may have, in either
    /// direction; longer ones fail with [`crate::Error::MessageTooLarge`]
    /// before anything is sent. Default 256 MiB; at most 4 GiB − 1 (larger
    /// values are taken as that).
    pub fn max_message_len(mut self, bytes: usize) -> Self {
        self.max_message_len = bytes.min(u32::MAX as usize) as u32;
        self
    }

    /// How long the dispatcher polls the rings after its last message before it
    /// sleeps. Longer means lower latency for bursts and more idle CPU.
    /// Default 50 µs.
    pub fn dispatcher_spin(mut self, spin: Duration) -> Self {
        self.dispatcher_spin = spin;
        self
    }

    /// Whether main runs its dispatch on a thread of its own (the default),
    /// or the host drives it by calling [`IpcMain::dispatch`] from a thread
    /// it owns, e.g. its event loop.
    pub fn dispatcher_thread(mut self, own_thread: bool) -> Self {
        self.dispatcher_thread = own_thread;
        self
    }

    /// The configured request ring capacity.
    pub fn get_request_ring_capacity(&self) -> usize {
        self.request_capacity
    }
}

/// Adds a typed handler to a one-per-channel `table` (main's or a
/// renderer's own), stored as the dispatcher runs it: its value written into
/// the event's reply buffer, its error turned into text.
pub(crate) fn register_handler<F, R, E>(
    table: &Listeners<MainHandler>,
    channel: &str,
    handler: F,
    once: bool,
) -> Result<()>
where
    F: Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
    R: AsRef<[u8]>,
    E: std::fmt::Display,
{
    check_channel(channel)?;
    let erased = move |event: &mut IpcMainEvent<'_>, arg: &[u8]| match handler(event, arg) {
        Ok(value) => {
            event.reply.bytes.extend_from_slice(value.as_ref());
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    };
    table
        .add_if_absent(channel, Arc::new(erased), once)
        .map(|_| ())
        .ok_or_else(|| Error::HandlerExists {
            channel: channel.to_owned(),
        })
}

/// The main process's end of ringipc, like Electron's `ipcMain`.
///
/// Owns a dispatcher thread that drains every renderer's request ring and calls
/// the listeners registered for each message's channel, in the order each
/// renderer sent them. Cheap to clone; the dispatcher stops, and every renderer
/// is disconnected, when the last clone is dropped.
///
/// ```no_run
/// use ringipc::IpcMain;
/// # fn main() -> ringipc::Result<()> {
/// let ipc = IpcMain::new()?;
/// ipc.on("synchronous-message", |event, arg| {
///     println!("{}", String::from_utf8_lossy(arg)); // "ping"
///     event.set_return_value("pong");
/// })?;
/// ipc.on("asynchronous-message", |event, arg| {
///     println!("{}", String::from_utf8_lossy(arg)); // "ping"
///     let _ = event.sender().send("asynchronous-reply", "pong");
/// })?;
/// let (_renderer, mut child) = ipc.spawn(&mut std::process::Command::new("./renderer"))?;
/// child.wait()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IpcMain {
    owner: Arc<Owner>,
}

/// Stops the dispatcher when the last `IpcMain` clone goes away.
struct Owner {
    shared: Arc<MainShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The dispatcher, when the host runs it ([`IpcMain::dispatch`]).
    hosted: Option<Mutex<Dispatcher>>,
}

pub(crate) struct MainShared {
    pub config: Config,
    pub listeners: Listeners<MainListener>,
    /// At most one per channel.
    pub handlers: Listeners<MainHandler>,
    pub control: Control,
    pub stopping: AtomicBool,
    pub next_id: AtomicU32,
    pub renderers: Mutex<Vec<WebContents>>,
    pub hooks: Arc<lifecycle::Hooks>,
    /// Which `send_to` messages to forward; none without a policy.
    pub forwarding: parking_lot::RwLock<Option<Arc<ForwardingPolicy>>>,
}

/// Decides whether main forwards a renderer's `send_to` message:
/// `(from, to, channel) -> allowed`.
pub(crate) type ForwardingPolicy = dyn Fn(&WebContents, &WebContents, &str) -> bool + Send + Sync;

impl IpcMain {
    /// Starts main with the default [`Config`].
    pub fn new() -> Result<IpcMain> {
        IpcMain::with_config(Config::default())
    }

    /// Starts main: validates the configuration and starts the dispatcher thread.
    pub fn with_config(config: Config) -> Result<IpcMain> {
        crate::wait::spin::prepare();
        if Layout::new(config.request_capacity, config.reply_capacity).is_none() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "ring capacities must be powers of two from 4 KiB to 1 GiB",
            )));
        }
        let shared = Arc::new(MainShared {
            config,
            listeners: Listeners::default(),
            handlers: Listeners::default(),
            control: Control::new()?,
            stopping: AtomicBool::new(false),
            next_id: AtomicU32::new(1),
            renderers: Mutex::new(Vec::new()),
            hooks: Arc::default(),
            forwarding: Default::default(),
        });
        let (thread, hosted) = if shared.config.dispatcher_thread {
            let for_thread = shared.clone();
            let thread = std::thread::Builder::new()
                .name("ringipc-dispatcher".into())
                .spawn(move || dispatcher::run(for_thread))?;
            (Some(thread), None)
        } else {
            (None, Some(Mutex::new(Dispatcher::new(shared.clone()))))
        };
        Ok(IpcMain {
            owner: Arc::new(Owner {
                shared,
                thread: Mutex::new(thread),
                hosted,
            }),
        })
    }

    /// Runs main's dispatch on the calling thread for up to `timeout`:
    /// handles what renderers sent, runs listeners and handlers, and sleeps
    /// in between; returns how many records it handled. Only for a main built
    /// with [`Config::dispatcher_thread`]`(false)`, whose host calls this from
    /// its own loop (other renderers wait while it does not). Fails with
    /// [`Error::WrongMode`] otherwise, and [`Error::Disconnected`] after
    /// [`shutdown`](Self::shutdown).
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// use std::time::Duration;
    /// let ipc = ringipc::IpcMain::with_config(ringipc::Config::default().dispatcher_thread(false))?;
    /// ipc.on("ping", |event, _| { event.set_return_value("pong"); })?;
    /// loop {
    ///     // ... the host's own work ...
    ///     ipc.dispatch(Duration::from_millis(10))?;
    /// #   break;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn dispatch(&self, timeout: Duration) -> Result<usize> {
        let Some(hosted) = &self.owner.hosted else {
            return Err(Error::WrongMode(
                "dispatch needs a main built with Config::dispatcher_thread(false)",
            ));
        };
        let shared = self.shared();
        if shared.stopping.load(Ordering::Acquire) {
            return Err(Error::Disconnected);
        }
        let mut d = hosted.lock();
        let handled = d.run_until(Some(std::time::Instant::now() + timeout));
        if shared.stopping.load(Ordering::Acquire) {
            // Stopped from a listener, while this thread held the dispatcher.
            d.shutdown();
        }
        Ok(handled)
    }

    fn shared(&self) -> &MainShared {
        &self.owner.shared
    }

    /// Registers `listener` for `channel` (Electron's `ipcMain.on`). Listeners
    /// of a channel run in registration order on the dispatcher thread, so a
    /// listener that blocks delays every renderer.
    ///
    /// A listener that captures an `IpcMain` clone keeps main alive until the
    /// listener is removed; capture the event's [`WebContents`] instead.
    pub fn on<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self
            .shared()
            .listeners
            .add(channel, Arc::new(listener), false))
    }

    /// [`on`](Self::on) for the next message on `channel` only (Electron's
    /// `ipcMain.once`): the listener is removed before it runs.
    pub fn once<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self
            .shared()
            .listeners
            .add(channel, Arc::new(listener), true))
    }

    /// Removes a listener by the id [`Self::on`] or [`Self::once`] returned.
    /// Returns whether it was still registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.shared().listeners.remove(id)
    }

    /// Removes every listener of `channel`, or of every channel with `None`
    /// (Electron's `ipcMain.removeAllListeners`). Returns how many were removed.
    pub fn remove_all_listeners(&self, channel: Option<&str>) -> usize {
        self.shared().listeners.remove_all(channel)
    }

    /// Listeners registered on `channel` now (Electron's `listenerCount`).
    pub fn listener_count(&self, channel: &str) -> usize {
        self.shared().listeners.count(channel)
    }

    /// Registers the handler of `channel` for [`crate::IpcRenderer::invoke`]
    /// (Electron's `ipcMain.handle`). It returns the answer, or an error whose
    /// `Display` text reaches the caller intact as
    /// [`Error::HandlerFailed`]. One handler per channel: a second fails
    /// with [`Error::HandlerExists`]. Runs on the dispatcher thread.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcMain::new()?;
    /// ipc.handle("read-file", |_event, path| {
    ///     std::fs::read(String::from_utf8_lossy(path).as_ref())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn handle<F, R, E>(&self, channel: &str, handler: F) -> Result<()>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        register_handler(&self.shared().handlers, channel, handler, false)
    }

    /// [`handle`](Self::handle) for the next call only (Electron's
    /// `ipcMain.handleOnce`).
    pub fn handle_once<F, R, E>(&self, channel: &str, handler: F) -> Result<()>
    where
        F: Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        register_handler(&self.shared().handlers, channel, handler, true)
    }

    /// Removes the handler of `channel` (Electron's `removeHandler`).
    /// Returns whether there was one.
    pub fn remove_handler(&self, channel: &str) -> bool {
        self.shared().handlers.remove_all(Some(channel)) > 0
    }

    /// Calls `callback` with each renderer [`spawn`](Self::spawn) starts, on
    /// the spawning thread, before `spawn` returns.
    pub fn on_connected<F>(&self, callback: F)
    where
        F: Fn(&WebContents) + Send + Sync + 'static,
    {
        self.shared().hooks.add_connected(Arc::new(callback));
    }

    /// Calls `callback` once for each renderer that is disconnected, with
    /// the reason ([`WebContents::disconnect_reason`]): it exited or died,
    /// broke the protocol, stopped reading, or main shut down. It runs on the
    /// thread that noticed, usually the dispatcher, so it must not block.
    pub fn on_disconnected<F>(&self, callback: F)
    where
        F: Fn(&WebContents, &str) + Send + Sync + 'static,
    {
        self.shared().hooks.add_disconnected(Arc::new(callback));
    }

    /// Shuts main down without waiting for the last handle to go: handles
    /// what renderers already sent, disconnects each of them (their blocked
    /// calls fail with [`Error::Disconnected`]; `on_disconnected` callbacks
    /// see "main shut down"), and stops the dispatcher. Afterwards, listeners
    /// never run again and [`spawn`](Self::spawn) fails. Called from a
    /// listener, the dispatcher stops after that listener returns.
    pub fn shutdown(&self) {
        self.owner.stop();
    }

    /// Lets renderers message each other through main
    /// ([`crate::IpcRenderer::send_to`]) where `policy(from, to, channel)`
    /// says so. Without a policy nothing is forwarded; a refused message is
    /// logged and counted ([`crate::RendererStats::forwards_refused`]).
    /// Replaces any earlier policy. Runs on the dispatcher thread.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcMain::new()?;
    /// // Renderers may chat with each other on "chat", nothing else.
    /// ipc.allow_forwarding(|_from, _to, channel| channel == "chat");
    /// # Ok(()) }
    /// ```
    pub fn allow_forwarding<F>(&self, policy: F)
    where
        F: Fn(&WebContents, &WebContents, &str) -> bool + Send + Sync + 'static,
    {
        *self.shared().forwarding.write() = Some(Arc::new(policy));
    }

    /// The renderers connected now.
    pub fn renderers(&self) -> Vec<WebContents> {
        self.shared()
            .renderers
            .lock()
            .iter()
            .filter(|w| w.is_connected())
            .cloned()
            .collect()
    }

    /// Starts `command` as a renderer: creates its shared segment and lifeline,
    /// hands both to the child, which connects with
    /// [`crate::IpcRenderer::from_env`]. Messages may be sent to the returned
    /// [`WebContents`] at once; they wait in the ring until the renderer reads.
    ///
    /// The caller owns the [`Child`] and should wait for it. Each call adds a
    /// `pre_exec` hook to `command`; reusing the command for another spawn is
    /// safe (stale hooks recognise that their descriptors are gone) but
    /// accumulates hooks.
    pub fn spawn(&self, command: &mut Command) -> Result<(WebContents, Child)> {
        let shared = self.shared();
        if shared.stopping.load(Ordering::Acquire) {
            return Err(Error::Disconnected);
        }
        let cfg = &shared.config;
        let layout = Layout::new(cfg.request_capacity, cfg.reply_capacity)
            .expect("validated in IpcMain::with_config");
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let memfd = segment::create_memfd(layout.segment_len)?;
        let mapping = Arc::new(Mapping::map(memfd.as_fd(), layout.segment_len)?);
        let header = layout.header(
            cfg.wait_backend.to_wire(),
            id,
            std::process::id(),
            cfg.max_message_len,
        );
        // SAFETY: offset 0 holds `SegmentHeader`-sized bytes nobody else sees yet.
        unsafe { mapping.at::<SegmentHeader>(0).write(header) };
        let rings = init_rings(&mapping, &layout, cfg.wait_backend)?;
        let (main_end, child_end) = lifeline::pair()?;

        let inherited = |fd: &OwnedFd| -> std::io::Result<InheritedFd> {
            let fd = fd.as_raw_fd();
            Ok(InheritedFd {
                fd,
                id: crate::fd::identity(fd)?,
            })
        };
        let invitation = Invitation {
            segment: inherited(&memfd)?,
            lifeline: inherited(&child_end)?,
            segment_len: layout.segment_len,
            main_pid: std::process::id(),
        };
        command.env(crate::invitation::ENV_VAR, invitation.encode());
        let inherit = [invitation.segment, invitation.lifeline];
        // SAFETY: the hook only calls `fstat` and `fcntl`, both async-signal-safe,
        // on plain integers captured by value.
        unsafe {
            command.pre_exec(move || {
                for InheritedFd { fd, id } in inherit {
                    // A stale hook from an earlier spawn finds another file (or
                    // none) under its numbers and leaves it alone.
                    if crate::fd::identity(fd).ok() == Some(id) {
                        crate::fd::set_cloexec(fd, false)?;
                    }
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        drop(child_end);
        drop(memfd);

        // Shared with the reply.data doorbell, which kicks the renderer's
        // receiver thread through it; closed (EOF for the renderer) once both
        // the dispatcher and the connection's outgoing half let go.
        let main_end = Arc::new(main_end);
        let rings_out = (Ring::Kick(main_end.clone()), rings.reply_calls);
        let conn = Arc::new_cyclic(|this| {
            build_connection(
                (id, child.id()),
                &mapping,
                &layout,
                cfg,
                rings_out,
                (shared, this),
            )
        });
        let web_contents = WebContents { conn };
        let renderer = build_incoming(
            web_contents.clone(),
            mapping,
            &layout,
            rings.request_space,
            main_end,
        );
        shared.renderers.lock().push(web_contents.clone());
        shared.hooks.connected(&web_contents);
        shared.control.add(renderer);
        if shared.stopping.load(Ordering::Acquire) {
            // Main shut down meanwhile: its dispatcher may never adopt this one.
            web_contents.conn.disconnect("main shut down".into());
        }
        Ok((web_contents, child))
    }
}

/// How main wakes each doorbell a renderer sleeps on. Under the `raw_sync`
/// backend main creates the events here and the renderer attaches to them.
struct RendererRings {
    request_space: Ring,
    reply_calls: Ring,
}

fn init_rings(mapping: &Mapping, layout: &Layout, backend: WaitBackend) -> Result<RendererRings> {
    let ring = |slot: BellSlot| -> Result<Ring> {
        if backend != WaitBackend::RawSyncEvent {
            return Ok(Ring::Futex);
        }
        let ptr = mapping.range(layout.event_offset(slot), EVENT_SLOT);
        if RawEvent::size_at(ptr) > EVENT_SLOT {
            return Err(Error::Io(std::io::Error::other(
                "raw_sync event larger than its slot",
            )));
        }
        // SAFETY: the slot is EVENT_SLOT bytes inside our mapping, unused so far.
        Ok(Ring::Event(
            unsafe { RawEvent::create(ptr) }?,
            Default::default(),
        ))
    };
    Ok(RendererRings {
        request_space: ring(BellSlot::RequestSpace)?,
        reply_calls: ring(BellSlot::ReplyCalls)?,
    })
}

fn ring_parts(
    mapping: &Mapping,
    control: usize,
    data: usize,
    capacity: usize,
) -> (*const RingControl, SharedBytes) {
    let ctrl = mapping.at::<RingControl>(control).cast_const();
    // SAFETY: `range` checked the bytes lie inside the mapping, which the
    // connection keeps alive through its `Arc<Mapping>`.
    let bytes = unsafe { SharedBytes::new(mapping.range(data, capacity), capacity) };
    (ctrl, bytes)
}

fn build_connection(
    (id, pid): (u32, u32),
    mapping: &Arc<Mapping>,
    layout: &Layout,
    cfg: &Config,
    (data_ring, calls_ring): (Ring, Ring),
    (shared, this): (&MainShared, &std::sync::Weak<Connection>),
) -> Connection {
    let (ctrl, bytes) = ring_parts(
        mapping,
        layout.reply_control,
        layout.reply_data,
        layout.reply_capacity,
    );
    // SAFETY: fresh ring inside `mapping`, which `Outgoing` keeps alive; main is
    // its only producer.
    let producer = unsafe { Producer::new(ctrl, bytes) };
    // SAFETY: the control block is atomics only, inside `mapping`.
    let words = unsafe { &*ctrl };
    // SAFETY: the words live in `mapping`, which `Outgoing` keeps alive for as
    // long as the doorbells.
    let data_bell = unsafe { Doorbell::new(&words.data, data_ring) };
    // SAFETY: as above.
    let calls_bell = unsafe { Doorbell::new(&words.calls, calls_ring) };
    // SAFETY: as above.
    let space_bell = unsafe { Doorbell::new(&words.space, Ring::Futex) };
    let out = Outgoing::new(
        producer,
        data_bell,
        calls_bell,
        space_bell,
        (cfg.outbox_limit, cfg.max_message_len as usize),
        mapping.clone(),
    );
    Connection {
        id,
        pid,
        out: Mutex::new(Some(out)),
        connected: AtomicBool::new(true),
        queued: AtomicUsize::new(0),
        reason: Mutex::new(None),
        unhandled: AtomicU64::new(0),
        counters: Default::default(),
        listeners: Listeners::default(),
        handlers: Listeners::default(),
        dispatcher: shared.control.waker(),
        hooks: shared.hooks.clone(),
        this: this.clone(),
    }
}

fn build_incoming(
    web_contents: WebContents,
    mapping: Arc<Mapping>,
    layout: &Layout,
    request_space_ring: Ring,
    lifeline: Arc<OwnedFd>,
) -> NewRenderer {
    let (ctrl, bytes) = ring_parts(
        &mapping,
        layout.request_control,
        layout.request_data,
        layout.request_capacity,
    );
    // SAFETY: fresh ring inside `mapping`, which `NewRenderer` keeps alive; the
    // dispatcher is its only consumer.
    let consumer = unsafe { Consumer::new(ctrl, bytes) };
    // SAFETY: the control block is atomics only, inside `mapping`.
    let words = unsafe { &*ctrl };
    // SAFETY: words inside `mapping`, which `NewRenderer` keeps alive.
    let data_bell = unsafe { Doorbell::new(&words.data, Ring::Futex) };
    // SAFETY: as above.
    let space_bell = unsafe { Doorbell::new(&words.space, request_space_ring) };
    NewRenderer {
        web_contents,
        consumer,
        data_bell,
        space_bell,
        lifeline,
        _mapping: mapping,
    }
}

impl Owner {
    /// Stops the dispatcher: it handles what is already in the rings,
    /// disconnects every renderer with "main shut down", and exits.
    fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.control.waker().wake();
        if let Some(t) = self.thread.lock().take() {
            // The last handle may be dropped by a listener, on the dispatcher
            // itself: it then stops after this message instead of being joined.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        // A hosted dispatcher busy in `dispatch` (maybe on this very thread,
        // in a listener) shuts down when that call returns.
        if let Some(mut d) = self.hosted.as_ref().and_then(|h| h.try_lock()) {
            d.shutdown();
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.stop();
    }
}
