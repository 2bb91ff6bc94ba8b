//! [`IpcMain`]: the main process's end of ringipc, and what keeps its
//! dispatcher running.

use super::config::Config;
use super::control::Control;
use super::dispatcher::{self, Dispatcher};
use super::shared::MainShared;
use super::{IpcMainEvent, WebContents, register_handler};
use crate::error::{Error, Result, check_channel};
use crate::listeners::ListenerId;
use crate::os::epoll::Epoll;
use crate::panics;
use crate::wait;
use crate::wire::layout::Layout;
use parking_lot::Mutex;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

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

impl std::fmt::Debug for IpcMain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.shared();
        f.debug_struct("IpcMain")
            .field("renderers", &shared.renderers.lock().len())
            .field("dispatcher_thread", &shared.config.dispatcher_thread)
            .field("stopping", &shared.is_stopping())
            .finish()
    }
}

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
        let shared = Arc::new(MainShared::new(config, Control::new()?, Epoll::new()?));
        let dispatcher = Dispatcher::new(shared.clone())?;
        let (thread, hosted) = if shared.config.dispatcher_thread {
            let thread = std::thread::Builder::new()
                .name("ringipc-dispatcher".into())
                .spawn(move || dispatcher::run(dispatcher))?;
            (Some(thread), None)
        } else {
            (None, Some(Mutex::new(dispatcher)))
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
    /// its own loop (other renderers wait while it does not). It may
    /// overrun `timeout` by what listeners take, and by the streaming of a
    /// big sync answer (at most 1 ms per MiB of it). Fails with
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
        self.hosted_dispatch(timeout, false)
    }

    /// [`dispatch`](Self::dispatch) that returns as soon as one round has
    /// handled something, or once `timeout` passes with nothing to do. For
    /// hosts that hand what listeners collected to another runtime (Node's
    /// event loop) and want it there at once, while still catching a burst's
    /// next record by spinning for up to `timeout`. As with `dispatch`, a
    /// call that handled something leaves the descriptor unarmed: call again
    /// until one returns 0 before waiting on it.
    pub fn dispatch_next(&self, timeout: Duration) -> Result<usize> {
        self.hosted_dispatch(timeout, true)
    }

    fn hosted_dispatch(&self, timeout: Duration, first_work: bool) -> Result<usize> {
        let Some(hosted) = &self.owner.hosted else {
            return Err(Error::WrongMode(
                "dispatch needs a main built with Config::dispatcher_thread(false)",
            ));
        };
        let shared = self.shared();
        let mut d = hosted.lock();
        if shared.is_stopping() {
            // `shutdown` may have found this dispatcher busy on another
            // thread; shutting down again is a no-op once done.
            d.shutdown();
            return Err(Error::Disconnected);
        }
        let handled = d.run_until(wait::deadline_in(timeout), first_work);
        if shared.is_stopping() {
            // Stopped from a listener, while this thread held the dispatcher.
            d.shutdown();
        }
        Ok(handled)
    }

    pub(super) fn shared(&self) -> &MainShared {
        &self.owner.shared
    }

    pub(super) fn shared_arc(&self) -> &Arc<MainShared> {
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

    /// Calls `callback` with each new renderer: one [`spawn`](Self::spawn)
    /// (or [`PreparedRenderer::started`](crate::PreparedRenderer::started))
    /// starts, on that thread before it returns; one that attached through
    /// [`listen`](Self::listen), on the dispatcher thread, which waits for
    /// it (so it must not block on the renderer).
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

    /// Heap bytes main holds on renderers' behalf now, all together:
    /// what [`Config::memory_limit`] bounds.
    pub fn memory_held(&self) -> usize {
        self.shared().memory.used()
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
}

impl Owner {
    /// Stops the dispatcher: it handles what is already in the rings,
    /// disconnects every renderer with "main shut down", and exits.
    fn stop(&self) {
        self.shared.begin_stop();
        self.shared.control.waker().wake();
        if let Some(t) = self.thread.lock().take() {
            // The last handle may be dropped by a listener, on the dispatcher
            // itself: it then stops after this message.
            panics::join_unless_current(t);
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

/// The descriptor a host's event loop waits on for a main built with
/// [`Config::dispatcher_thread`]`(false)`: readable whenever
/// [`IpcMain::dispatch`]`(Duration::ZERO)` has something to do — a record
/// from a renderer, a renderer spawned, dying or disconnecting, a deadline,
/// or `shutdown` (`dispatch` then fails with [`Error::Disconnected`]).
///
/// The contract: when it is readable, call `dispatch(Duration::ZERO)` until
/// it returns `Ok(0)`. A `0` means everything was handled *and* main asked
/// every renderer to signal the descriptor for its next record; any other
/// count means "call again". That is all that rearms it, so it suits
/// level-triggered loops (`poll`, epoll without `EPOLLET`, glib, calloop's
/// `Mode::Level`) and edge-triggered ones (tokio's `AsyncFd` — clear the
/// readiness after a `0` —, epoll with `EPOLLET`, mio) alike, and a host that
/// follows it neither misses work nor spins. While the host is busy in
/// `dispatch`, renderers signal nothing: the hot path makes no syscall for
/// the descriptor. It is an epoll set, so it nests in any other.
///
/// After `dispatch` failed with [`Error::Disconnected`] the descriptor stays
/// readable: stop waiting on it. A renderer that kept kicking main without
/// sending anything has its kicks ignored for up to 100 ms at a time; its
/// records then wait for main's next call (or that timer) rather than wake
/// the descriptor themselves.
///
/// With the dispatcher thread (the default) the descriptor is that thread's
/// own and of no use to a host.
///
/// ```no_run
/// use std::os::fd::AsRawFd;
/// use std::time::Duration;
/// # fn main() -> ringipc::Result<()> {
/// let ipc = ringipc::IpcMain::with_config(ringipc::Config::default().dispatcher_thread(false))?;
/// let mut fds = [libc::pollfd { fd: ipc.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
/// loop {
///     while ipc.dispatch(Duration::ZERO)? > 0 {}
///     // SAFETY: one valid pollfd.
///     unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
/// #   break;
/// }
/// # Ok(()) }
/// ```
impl AsFd for IpcMain {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared().epoll.as_fd()
    }
}

impl AsRawFd for IpcMain {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
