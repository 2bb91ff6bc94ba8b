//! [`Config`]: settings for an `IpcMain` and the renderers it spawns.

use crate::os::segment::SegmentBackend;
use crate::wait::WaitBackend;
use std::time::Duration;

/// Settings for an [`IpcMain`](crate::IpcMain) and the renderers it spawns.
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
    pub(crate) request_capacity: usize,
    pub(crate) reply_capacity: usize,
    pub(crate) wait_backend: WaitBackend,
    pub(crate) segment_backend: SegmentBackend,
    pub(crate) outbox_limit: usize,
    pub(crate) max_message_len: u32,
    pub(crate) dispatcher_spin: Duration,
    pub(crate) dispatcher_thread: bool,
    pub(crate) memory_limit: usize,
    pub(crate) renderer_memory_limit: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) partial_message_timeout: Duration,
    pub(crate) attach_timeout: Duration,
    pub(crate) streaming_stores: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            request_capacity: 256 << 10,
            reply_capacity: 256 << 10,
            wait_backend: WaitBackend::default(),
            segment_backend: SegmentBackend::default(),
            outbox_limit: 512 << 20,
            max_message_len: 256 << 20,
            dispatcher_spin: Duration::from_micros(50),
            dispatcher_thread: true,
            memory_limit: 1 << 30,
            renderer_memory_limit: 512 << 20,
            connect_timeout: Duration::from_secs(10),
            partial_message_timeout: Duration::from_secs(30),
            attach_timeout: Duration::from_secs(1),
            streaming_stores: true,
        }
    }
}

impl Config {
    /// Bytes in each renderer's renderer → main ring: a power of two from
    /// 4 KiB to 1 GiB. Default 256 KiB. Messages longer than a ring takes in
    /// one record travel in fragments, so this bounds memory and batching,
    /// not message size. For big messages, 1 MiB rings (both ways) are worth
    /// their memory: a 1 MiB echo round trip took about half the time it
    /// takes through the default rings (see [`Self::streaming_stores`]).
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
    /// (messages from [`WebContents::send`](crate::WebContents::send) and replies) before it
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
    /// or the host drives it by calling [`IpcMain::dispatch`](crate::IpcMain::dispatch) from a thread
    /// it owns, e.g. its event loop.
    pub fn dispatcher_thread(mut self, own_thread: bool) -> Self {
        self.dispatcher_thread = own_thread;
        self
    }

    /// Bytes of heap main may hold on behalf of all renderers together:
    /// messages half received, outboxes, forwarded messages waiting for
    /// their target. A renderer whose next need would pass it is
    /// disconnected with a reason that names memory; main never aborts on
    /// it. Default 1 GiB: a desktop app can spare that, it fits one
    /// message of the default [`max_message_len`](Self::max_message_len)
    /// each way with room to spare, and no number of renderers makes main
    /// hold more.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// The most of [`memory_limit`](Self::memory_limit) one renderer may
    /// hold; passing it disconnects that renderer, so one renderer cannot
    /// take the whole budget from the others. What it holds counts: a
    /// message in fragments being reassembled (a call or answer of 32 KiB
    /// or more comes in pieces too), answers main keeps for it, its outbox.
    /// Default 512 MiB: a message of the default
    /// [`max_message_len`](Self::max_message_len) being reassembled, with
    /// room for its outbox.
    pub fn renderer_memory_limit(mut self, bytes: usize) -> Self {
        self.renderer_memory_limit = bytes;
        self
    }

    /// How long a spawned process may take to connect
    /// ([`crate::IpcRenderer::from_env`]) before main disconnects it.
    /// Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a renderer may leave a message half sent (some fragments
    /// in, and no more for this long while main waits for them) before main
    /// disconnects it. Default 30 s.
    pub fn partial_message_timeout(mut self, timeout: Duration) -> Self {
        self.partial_message_timeout = timeout;
        self
    }

    /// How renderers' segments are made and handed over: a sealed memfd
    /// passed by descriptor (the default, and the one to use with renderers
    /// you do not trust), or a named POSIX segment opened by name
    /// ([`SegmentBackend::Named`]).
    pub fn segment_backend(mut self, backend: SegmentBackend) -> Self {
        self.segment_backend = backend;
        self
    }

    /// How long a process that connected to main's attach socket
    /// ([`crate::IpcMain::listen`]) may take to send its hello before main
    /// closes the connection. Default 1 s.
    pub fn attach_timeout(mut self, timeout: Duration) -> Self {
        self.attach_timeout = timeout;
        self
    }

    /// Whether big payloads (records of 32 KiB or more, and pieces of 16
    /// KiB or more of a call or answer in pieces) go into rings of at most
    /// 512 KiB with non-temporal stores, either way (main tells each
    /// renderer). Default on.
    ///
    /// In a ring that small the writer comes back to lines the reader's core
    /// read on the last lap, and a plain store must take each one back
    /// first; a non-temporal store skips that, and the reader fetches from
    /// memory instead. Measured on a 2-vCPU AMD VM, this took a 1 MiB
    /// `send_sync` echo through the default rings from 250–305 µs to
    /// 134–188 µs. Rings of 1 MiB or more always take plain stores: there
    /// the lines have left the reader's core by the next lap, and the same
    /// echo took 78–92 µs through 1 MiB rings with plain stores (one run in
    /// eleven read 856 µs, a slow phase of the VM) against 121–200 µs
    /// streaming, so big messages are best served by 1 MiB
    /// rings ([`Self::request_ring_capacity`]). Turn it off where main and
    /// a renderer share a core's cache (threads pinned to the two
    /// hyperthreads of one core): there the lines never leave that cache,
    /// plain stores are cheap, and reading from memory is the slower way.
    pub fn streaming_stores(mut self, on: bool) -> Self {
        self.streaming_stores = on;
        self
    }

    /// The configured request ring capacity.
    pub fn get_request_ring_capacity(&self) -> usize {
        self.request_capacity
    }
}
