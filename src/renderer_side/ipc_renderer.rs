//! [`IpcRenderer`]: the renderer's end of ringipc, like Electron's
//! `ipcRenderer`. Its constructors are in `connect`.

use super::call::Pending;
use super::event::{IpcRendererEvent, Message};
use super::invocation::Invocation;
use super::send::Patience;
use super::shared::Shared;
use crate::error::{Error, Result, check_channel};
use crate::listeners::ListenerId;
use crate::panics;
use crate::wait;
use crate::wire::record::Kind;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    pub(super) shared: Arc<Shared>,
    /// `None` in pumped mode.
    pub(super) receiver: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for IpcRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcRenderer")
            .field("id", &self.id())
            .field("connected", &self.is_connected())
            .field("receiver_thread", &self.receiver.is_some())
            .finish()
    }
}

impl IpcRenderer {
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
        match self.pump(wait::deadline_in(timeout)) {
            Ok(m) => Ok(Some(m)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn pump(&self, deadline: Option<Instant>) -> Result<Message> {
        if self.receiver.is_some() {
            return Err(Error::WrongMode(
                "recv needs a renderer connected with from_env_without_receiver",
            ));
        }
        self.shared.pump(deadline)
    }

    /// Main's id for this renderer (the same as [`crate::WebContents::id`]).
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Sends an asynchronous message to main's listeners of `channel`.
    ///
    /// Blocks only while the ring to main is full (backpressure: spinning
    /// briefly, then sleeping until main frees room), and fails with
    /// [`Error::Disconnected`] if main goes away meanwhile.
    pub fn send(&self, channel: &str, arg: impl AsRef<[u8]>) -> Result<()> {
        check_channel(channel)?;
        self.shared.push(
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
        self.shared.push(
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
        let deadline = wait::deadline_in(timeout);
        self.shared.push(
            Kind::Message,
            channel,
            arg.as_ref(),
            0,
            Patience::Wait(deadline),
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
        self.shared
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
        self.shared.call(channel, arg.as_ref(), &mut out, None)?;
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
        self.shared
            .call(channel, arg.as_ref(), &mut out, wait::deadline_in(timeout))?;
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
        self.shared.call(
            channel,
            arg.as_ref(),
            out,
            timeout.and_then(wait::deadline_in),
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
        let shared = &self.shared;
        let Pending { call_id, seen } = shared.begin_call();
        shared.lock_replies().expect(call_id, false);
        let invocation = Invocation {
            shared: shared.clone(),
            call_id,
            channel: channel.to_owned(),
            seen,
            settled: false,
        };
        // Dropping `invocation` on failure forgets the call.
        let wait = Patience::Wait(None);
        shared.push(Kind::Invoke, channel, arg.as_ref(), call_id, wait)?;
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
        Ok(self
            .shared
            .listeners
            .add(channel, Arc::new(listener), false))
    }

    /// [`on`](Self::on) for the next message on `channel` only (Electron's
    /// `ipcRenderer.once`): the listener is removed before it runs.
    pub fn once<F>(&self, channel: &str, listener: F) -> Result<ListenerId>
    where
        F: Fn(&IpcRendererEvent<'_>, &[u8]) + Send + Sync + 'static,
    {
        check_channel(channel)?;
        Ok(self.shared.listeners.add(channel, Arc::new(listener), true))
    }

    /// Registers the handler of `channel` for main's
    /// [`crate::WebContents::invoke`] (main → renderer calls, which Electron
    /// lacks). It returns the answer, or an error whose `Display` text
    /// reaches main intact as [`Error::HandlerFailed`]. One handler per
    /// channel: a second fails with [`Error::HandlerExists`]; main's calls on
    /// a channel without one fail with [`Error::NoHandler`]. Runs on the
    /// receiver thread, or in a pumping host's [`recv`](Self::recv) and
    /// [`try_recv`](Self::try_recv).
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcRenderer::from_env()?;
    /// ipc.handle("document-title", |_event, _arg| -> Result<_, String> { Ok("Untitled") })?;
    /// # Ok(()) }
    /// ```
    pub fn handle<F, R, E>(&self, channel: &str, handler: F) -> Result<()>
    where
        F: Fn(&IpcRendererEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        self.register_handler(channel, handler, false)
    }

    /// [`handle`](Self::handle) for main's next call on `channel` only.
    pub fn handle_once<F, R, E>(&self, channel: &str, handler: F) -> Result<()>
    where
        F: Fn(&IpcRendererEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        self.register_handler(channel, handler, true)
    }

    /// Removes the handler of `channel`; returns whether there was one.
    pub fn remove_handler(&self, channel: &str) -> bool {
        self.shared.handlers.remove_all(Some(channel)) > 0
    }

    fn register_handler<F, R, E>(&self, channel: &str, handler: F, once: bool) -> Result<()>
    where
        F: Fn(&IpcRendererEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        check_channel(channel)?;
        let erased =
            move |event: &IpcRendererEvent<'_>, arg: &[u8], out: &mut Vec<u8>| match handler(
                event, arg,
            ) {
                Ok(value) => {
                    out.extend_from_slice(value.as_ref());
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            };
        let added = self
            .shared
            .handlers
            .add_if_absent(channel, Arc::new(erased), once);
        added.map(|_| ()).ok_or_else(|| Error::HandlerExists {
            channel: channel.to_owned(),
        })
    }

    /// Removes a listener by the id [`Self::on`] or [`Self::once`] returned.
    /// Returns whether it was still registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.shared.listeners.remove(id)
    }

    /// Removes every listener of `channel`, or of every channel with `None`
    /// (Electron's `removeAllListeners`). Returns how many were removed.
    pub fn remove_all_listeners(&self, channel: Option<&str>) -> usize {
        self.shared.listeners.remove_all(channel)
    }

    /// Listeners registered on `channel` now (Electron's `listenerCount`).
    pub fn listener_count(&self, channel: &str) -> usize {
        self.shared.listeners.count(channel)
    }

    /// Messages from main that arrived on a channel with no listener.
    pub fn unhandled_messages(&self) -> u64 {
        self.shared.unhandled.load(Ordering::Relaxed)
    }

    /// Whether this renderer has no receiver thread: the host takes
    /// messages ([`from_env_without_receiver`](Self::from_env_without_receiver)).
    pub fn is_pumped(&self) -> bool {
        self.receiver.is_none()
    }

    /// Whether main is still there.
    pub fn is_connected(&self) -> bool {
        !self.shared.closed.load(Ordering::Relaxed)
    }
}

impl Drop for IpcRenderer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.reply_data.wake();
        self.shared.wake_futures();
        if let Some(t) = self.receiver.take() {
            // The last handle may be dropped by a listener, on the receiver
            // thread itself: it then stops after this message.
            panics::join_unless_current(t);
        }
        // Dropping the last `Arc<Shared>` closes the lifeline: main sees EOF.
    }
}

/// The descriptor a host's event loop waits on for a renderer connected with
/// [`IpcRenderer::from_env_without_receiver`]: readable whenever
/// [`IpcRenderer::try_recv`] has something to report — a message from main,
/// an answer to a pending [`Invocation`] to route, or main's disconnect
/// (`try_recv` then fails with [`Error::Disconnected`]; stop waiting then,
/// as the descriptor stays readable).
///
/// The contract: when it is readable, call `try_recv` until it returns
/// `Ok(None)`. `None` means nothing is left *and* main was asked to signal
/// the descriptor for its next message; that is all that rearms it, so it
/// suits level-triggered loops (`poll`, epoll, glib, calloop's
/// `Mode::Level`) and edge-triggered ones (tokio's `AsyncFd` — clear the
/// readiness after a `None` —, epoll with `EPOLLET`, mio) alike. While the
/// host is busy taking messages, main signals nothing: the hot path makes no
/// syscall for the descriptor. It is an epoll set, so it nests in any other.
///
/// With a receiver thread ([`IpcRenderer::from_env`]) the descriptor is that
/// thread's business and of no use to a host.
impl AsFd for IpcRenderer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.epoll.as_fd()
    }
}

impl AsRawFd for IpcRenderer {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
