//! `WebContents`: main's handle on one renderer, and the outgoing half of its
//! connection (the reply ring's producer plus a bounded outbox).

use super::dispatcher::Waker;
use super::lifecycle::Hooks;
use super::{IpcMainEvent, MainHandler, MainListener, register_handler};
use crate::error::{Error, Result, check_channel};
use crate::fragment::{fragment_len, fragments};
use crate::listeners::{ListenerId, Listeners};
use crate::record::{COMMIT_LEN, CONTINUES, Kind, Violation, record_len};
use crate::ring::{Producer, PushError};
use crate::segment::Mapping;
use crate::wait::Doorbell;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Main's handle on one connected renderer, like Electron's `webContents`.
///
/// Cheap to clone; every clone refers to the same renderer. Sends from any
/// thread are ordered with each other and with the replies to that renderer's
/// sync calls, because they all go through one ring in one order.
#[derive(Clone)]
pub struct WebContents {
    pub(crate) conn: Arc<Connection>,
}

/// Why an outgoing record could not be queued: the renderer must be dropped.
pub(crate) struct Broken(pub String);

/// A record waiting for room in the reply ring.
struct Pending {
    kind: Kind,
    call_id: u64,
    /// Fragmentation flags (see `fragment.rs`).
    flags: u16,
    channel_len: usize,
    /// Channel then payload.
    bytes: Vec<u8>,
}

/// The producer side of the reply ring. Only touched under `Connection::out`.
pub(crate) struct Outgoing {
    producer: Producer,
    /// reply.data: the renderer's receiver thread sleeps on it; rung after
    /// publishing a message.
    data_bell: Doorbell,
    /// reply.calls: `send_sync` callers sleep on it; rung after publishing a reply.
    calls_bell: Doorbell,
    /// reply.space: we raise its flag while the outbox is non-empty, and the
    /// renderer kicks us when it frees room.
    space_bell: Doorbell,
    /// FIFO of records that found the ring full; always drained before anything
    /// new is pushed, so order is kept.
    outbox: VecDeque<Pending>,
    /// Ring bytes the queued records will take (headers and padding
    /// included), so that even an empty reply counts: zero means empty.
    outbox_bytes: usize,
    outbox_limit: usize,
    /// Most payload bytes one message or reply may have.
    max_message: usize,
    _mapping: Arc<Mapping>,
}

pub(crate) struct Connection {
    pub id: u32,
    pub pid: u32,
    /// `None` once disconnected: the mapping is released with it.
    pub out: Mutex<Option<Outgoing>>,
    pub connected: AtomicBool,
    /// Bytes waiting in the outbox: non-zero tells the dispatcher to flush.
    /// Written only under `out`, so it never runs behind the outbox for long.
    pub queued: AtomicUsize,
    pub reason: Mutex<Option<String>>,
    /// Async messages that arrived on a channel with no listener.
    pub unhandled: AtomicU64,
    /// What this renderer sent, counted by the dispatcher.
    pub counters: Counters,
    /// Wakes the dispatcher (to reap this connection after a disconnect).
    pub dispatcher: Waker,
    /// Listeners and handlers registered on this renderer's `WebContents`;
    /// they come before main's (Electron's `webContents.ipc`).
    pub listeners: Listeners<MainListener>,
    pub handlers: Listeners<MainHandler>,
    /// Main's lifecycle callbacks, run on disconnect.
    pub hooks: Arc<Hooks>,
    /// This connection, for handing a `WebContents` to those callbacks.
    pub this: std::sync::Weak<Connection>,
}

/// Per-renderer traffic counters. The dispatcher is the only writer of the
/// first three, so it bumps them with a plain load and store.
#[derive(Default)]
pub(crate) struct Counters {
    pub messages: AtomicU64,
    pub sync_calls: AtomicU64,
    pub bytes: AtomicU64,
    /// Error replies (no listener, no value, panic, dropped responder).
    pub errors: AtomicU64,
    /// `send_to` messages main did not forward (policy, or no such renderer).
    pub refused: AtomicU64,
}

impl Counters {
    /// Counts one record from the renderer; dispatcher thread only.
    pub fn record(&self, sync: bool, bytes: usize) {
        let bump =
            |c: &AtomicU64, by: u64| c.store(c.load(Ordering::Relaxed) + by, Ordering::Relaxed);
        bump(
            if sync {
                &self.sync_calls
            } else {
                &self.messages
            },
            1,
        );
        bump(&self.bytes, bytes as u64);
    }
}

/// A snapshot of one renderer's traffic, from [`WebContents::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RendererStats {
    /// Asynchronous messages received from the renderer.
    pub messages: u64,
    /// Synchronous calls received from the renderer.
    pub sync_calls: u64,
    /// Payload bytes received (messages and calls).
    pub bytes_received: u64,
    /// Calls answered with an error (no listener, no value, a panic, a
    /// dropped responder).
    pub error_replies: u64,
    /// Messages that found no listener.
    pub unhandled_messages: u64,
    /// Ring bytes waiting in main's outbox for this renderer.
    pub queued_bytes: usize,
    /// Its `send_to` messages main did not forward.
    pub forwards_refused: u64,
}

impl Outgoing {
    pub fn new(
        producer: Producer,
        data_bell: Doorbell,
        calls_bell: Doorbell,
        space_bell: Doorbell,
        (outbox_limit, max_message): (usize, usize),
        mapping: Arc<Mapping>,
    ) -> Self {
        Outgoing {
            producer,
            data_bell,
            calls_bell,
            space_bell,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            outbox_limit,
            max_message,
            _mapping: mapping,
        }
    }

    /// Writes a message or reply to the ring, in fragments if it is longer
    /// than one record can be, or queues it behind earlier ones. Never blocks.
    /// The caller has checked the length against `max_message`.
    pub fn push(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
    ) -> Result<(), Broken> {
        let single = self.producer.max_payload(channel.len());
        if payload.len() <= single {
            return self.push_record(kind, channel, payload, call_id, 0);
        }
        for (range, flags) in fragments(payload.len(), fragment_len(single)) {
            let channel = if flags & CONTINUES == 0 { channel } else { &[] };
            self.push_record(kind, channel, &payload[range], call_id, flags)?;
        }
        Ok(())
    }

    /// Writes one record, or queues it behind earlier ones.
    #[inline]
    fn push_record(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        call_id: u64,
        flags: u16,
    ) -> Result<(), Broken> {
        if self.outbox.is_empty() {
            match self
                .producer
                .try_push_flagged(kind, channel, payload, call_id, flags)
            {
                Ok(()) => {
                    self.notify_for(kind);
                    return Ok(());
                }
                Err(PushError::Full { .. }) => {}
                Err(PushError::TooLarge { len, capacity }) => {
                    return Err(Broken(format!(
                        "record of {len} bytes exceeds ring of {capacity}"
                    )));
                }
                Err(PushError::Violation(v)) => return Err(violation(v)),
            }
        }
        let mut bytes = Vec::with_capacity(channel.len() + payload.len());
        bytes.extend_from_slice(channel);
        bytes.extend_from_slice(payload);
        self.outbox_bytes += ring_bytes(channel.len(), payload.len());
        self.outbox.push_back(Pending {
            kind,
            call_id,
            flags,
            channel_len: channel.len(),
            bytes,
        });
        if self.outbox_bytes > self.outbox_limit {
            return Err(Broken(format!(
                "renderer is not reading: {} bytes queued for it, limit {}",
                self.outbox_bytes, self.outbox_limit
            )));
        }
        // Ask the renderer to kick us when it frees room, then look again: it may
        // have freed room before it could see the flag.
        self.space_bell.set_waiting(true);
        self.flush().map(|_| ())
    }

    /// Wakes whoever waits for records of `kind`. While a `send_sync` is in
    /// flight its caller, not the receiver thread, drains the ring, so a
    /// message must wake a sleeping caller too: otherwise a reply queued in
    /// our outbox behind messages waits until the caller's park slice ends.
    fn notify_for(&self, kind: Kind) {
        match kind {
            Kind::Reply | Kind::ErrorReply => self.calls_bell.notify(),
            _ => {
                self.data_bell.notify();
                self.calls_bell.notify();
            }
        }
    }

    /// Moves queued records into the ring while they fit. Returns whether the
    /// outbox is now empty.
    pub fn flush(&mut self) -> Result<bool, Broken> {
        let (mut messages, mut replies) = (false, false);
        while let Some(p) = self.outbox.front() {
            let (channel, payload) = p.bytes.split_at(p.channel_len);
            match self
                .producer
                .try_push_flagged(p.kind, channel, payload, p.call_id, p.flags)
            {
                Ok(()) => {
                    self.outbox_bytes -= ring_bytes(p.channel_len, p.bytes.len() - p.channel_len);
                    let p = self.outbox.pop_front().expect("front exists");
                    match p.kind {
                        Kind::Reply | Kind::ErrorReply => replies = true,
                        _ => messages = true,
                    }
                }
                Err(PushError::Full { .. }) => break,
                Err(PushError::TooLarge { .. }) => unreachable!("checked before queueing"),
                Err(PushError::Violation(v)) => return Err(violation(v)),
            }
        }
        if messages || replies {
            // Both: a flushed reply may answer an `invoke` nobody blocks on,
            // which the receiver thread must drain (see `wake_receiver`).
            self.notify_for(Kind::Message);
        }
        let empty = self.outbox.is_empty();
        if empty {
            self.space_bell.set_waiting(false);
        }
        Ok(empty)
    }
}

/// Ring bytes a record of this channel and payload takes, with the commit
/// word that must stay free after it. Never zero.
fn ring_bytes(channel_len: usize, payload_len: usize) -> usize {
    (record_len(channel_len as u64, payload_len as u64) as usize).saturating_add(COMMIT_LEN)
}

fn violation(v: Violation) -> Broken {
    Broken(format!("protocol violation on the reply ring: {v}"))
}

impl Connection {
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
        if self.connected.swap(false, Ordering::AcqRel) {
            log::warn!(
                "renderer {} (pid {}) disconnected: {reason}",
                self.id,
                self.pid
            );
            *self.out.lock() = None;
            self.queued.store(0, Ordering::Relaxed);
            self.dispatcher.wake();
            if let Some(conn) = self.this.upgrade() {
                self.hooks.disconnected(&WebContents { conn }, &reason);
            }
        }
    }

    /// Pushes one record and keeps `queued` in step with the outbox.
    pub fn push(&self, kind: Kind, channel: &[u8], payload: &[u8], call_id: u64) -> Result<()> {
        let mut guard = self.out.lock();
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
        self.queued.store(out.outbox_bytes, Ordering::Relaxed);
        drop(guard);
        result.map_err(|Broken(reason)| {
            self.disconnect(reason);
            Error::Disconnected
        })
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
    pub fn flush(&self) {
        let mut guard = self.out.lock();
        let Some(out) = guard.as_mut() else { return };
        let result = out.flush();
        self.queued.store(out.outbox_bytes, Ordering::Relaxed);
        drop(guard);
        if let Err(Broken(reason)) = result {
            self.disconnect(reason);
        }
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

    /// Bytes of ring space that records accepted by [`send`](Self::send) (and
    /// replies) still need while they wait in main's outbox for the renderer
    /// to make room: 0 once they all reached the ring, or after a disconnect.
    /// A sender that produces faster than the renderer reads can pace itself
    /// on this.
    pub fn queued_bytes(&self) -> usize {
        self.conn.queued.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Consumer;
    use crate::segment::{Mapping, create_memfd};
    use crate::wait::Ring;
    use std::os::fd::AsFd;

    const CAPACITY: usize = 4096;

    /// An outgoing half over a fresh 4 KiB ring, and the renderer's consumer.
    fn outgoing() -> (Outgoing, Consumer) {
        let fd = create_memfd(2 * CAPACITY).unwrap();
        let mapping = Arc::new(Mapping::map(fd.as_fd(), 2 * CAPACITY).unwrap());
        let (ctrl, bytes) = super::super::ring_parts(&mapping, 0, CAPACITY, CAPACITY);
        // SAFETY: a fresh ring in `mapping`, which `Outgoing` keeps alive;
        // one producer and one consumer.
        let producer = unsafe { Producer::new(ctrl, bytes) };
        // SAFETY: as above.
        let consumer = unsafe { Consumer::new(ctrl, bytes) };
        // SAFETY: the control block is atomics only, inside `mapping`.
        let words = unsafe { &*ctrl };
        // SAFETY: the words live in `mapping`, kept alive by `Outgoing`.
        let bell = |w| unsafe { Doorbell::new(w, Ring::Futex) };
        let out = Outgoing::new(
            producer,
            bell(&words.data),
            bell(&words.calls),
            bell(&words.space),
            (1 << 20, 1 << 20),
            mapping,
        );
        (out, consumer)
    }

    #[test]
    fn an_empty_reply_waiting_in_the_outbox_still_counts() {
        let (mut out, mut consumer) = outgoing();
        // Three records of 1032 bytes fill the ring but for 1000 bytes.
        for _ in 0..3 {
            out.push(Kind::Message, b"m", &[0u8; 1000], 0).ok().unwrap();
        }
        assert!(out.outbox.is_empty());
        // Then a 2008-byte record and an empty reply (24 bytes) must wait.
        out.push(Kind::Message, b"m", &[0u8; 1983], 0).ok().unwrap();
        out.push(Kind::Reply, b"", b"", 7).ok().unwrap();
        assert_eq!(out.outbox.len(), 2);
        // Freeing one record leaves room for the message (2008 + 8 of 2032)
        // but then not for the reply (24 + 8 of the 24 left).
        let mut body = Vec::new();
        consumer.pop(&mut body).unwrap().unwrap();
        assert!(!out.flush().ok().unwrap(), "the reply cannot fit yet");
        assert_eq!(out.outbox.len(), 1);
        assert_ne!(
            out.outbox_bytes, 0,
            "a queued empty reply must keep the flush going"
        );
        while consumer.pop(&mut body).unwrap().is_some() {}
        assert!(out.flush().ok().unwrap());
        assert_eq!(out.outbox_bytes, 0);
    }
}
