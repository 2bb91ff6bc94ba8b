//! Receiving messages from main: the step the receiver thread's loop and a
//! pumping host share (`next_batch`), the receiver thread itself, and
//! running the renderer's listeners.

use super::event::{IpcRendererEvent, Message, RendererListener};
use super::inbox::{self, What};
use super::replies::Drained;
use super::shared::{Pumped, Shared};
use crate::error::{Error, Result};
use crate::listeners::Snapshot;
use crate::os::lifeline;
use crate::panics;
use crate::wait;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

impl Shared {
    /// The next message from main, waiting for one until `deadline`
    /// (pumped mode: a host's own loop, see `recv`).
    pub(super) fn pump(&self, deadline: Option<Instant>) -> Result<Message> {
        // Another thread may be waiting in `recv`, holding the batch: wait for
        // it no longer than our own deadline.
        let mut pumped = match deadline {
            None => self.pumped.lock(),
            Some(d) => self.pumped.try_lock_until(d).ok_or(Error::Timeout)?,
        };
        let Pumped { batch, at, armed } = &mut *pumped;
        // The host is here: main and our threads need not kick any more.
        if std::mem::take(armed) {
            self.reply_data.set_waiting(false);
        }
        loop {
            if let Some(m) = inbox::entries(&batch[*at..]).next() {
                *at += m.len();
                let channel = String::from_utf8_lossy(m.channel);
                match m.what {
                    What::Message { from } => {
                        return Ok(Message {
                            channel: channel.into_owned(),
                            payload: m.payload.to_vec(),
                            sender_id: (from != 0).then_some(from),
                        });
                    }
                    // Main's invoke: the host's thread answers it here.
                    What::Invoke { call_id } => self.answer_invoke(&channel, m.payload, call_id)?,
                }
                continue;
            }
            batch.clear();
            *at = 0;
            match self.next_batch(batch, deadline) {
                Err(Error::Timeout) if self.arm()? => {
                    *armed = true;
                    return Err(Error::Timeout);
                }
                Err(Error::Timeout) => {}
                other => other?,
            }
        }
    }

    /// Before a pumping host goes to wait on the descriptor: takes the kicks
    /// that made it readable, raises the reply.data flag (so that main and
    /// our own threads kick it for what comes next), then looks again.
    /// `Ok(true)` if all is quiet (the flag stays raised until the host is
    /// back); `Ok(false)`, flag lowered, if something came meanwhile.
    fn arm(&self) -> Result<bool> {
        lifeline::drain_kicks(&self.local_sleep);
        if !lifeline::drain_kicks(&self.lifeline) {
            self.close();
            return Err(Error::Disconnected);
        }
        self.reply_data.set_waiting(true);
        if self.receiver_has_work() {
            self.reply_data.set_waiting(false);
            return Ok(false);
        }
        Ok(true)
    }

    /// What the receiver waits for: its turn to drain with a record waiting,
    /// messages a caller left in the inbox, or the end of the connection.
    fn receiver_has_work(&self) -> bool {
        self.turn.receiver_has_work(&self.reply_hint)
            || self.stopping.load(Ordering::Relaxed)
            || self.closed.load(Ordering::Relaxed)
    }

    /// Fills `batch` (empty on entry) with the next messages from main,
    /// waiting for some until `deadline`: the receiver thread's loop, and a
    /// host's own when it pumps. Fails with [`Error::Timeout`] at the
    /// deadline and [`Error::Disconnected`] once main is gone or this
    /// renderer stops.
    pub(super) fn next_batch(&self, batch: &mut Vec<u8>, deadline: Option<Instant>) -> Result<()> {
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return Err(Error::Disconnected);
            }
            self.take_inbox(batch)?;
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
            if self.closed.load(Ordering::Relaxed) {
                self.close();
                return Err(Error::Disconnected);
            }
            woke.map_err(|unmet| self.unmet(unmet))?;
        }
    }

    /// Swaps the inbox into `batch` (empty on entry), draining the ring into
    /// it first if it is the receiver's turn.
    fn take_inbox(&self, batch: &mut Vec<u8>) -> Result<()> {
        self.turn.clear_inbox();
        let mut replies = self.lock_replies();
        // With threads blocked on replies they drain (and route messages here).
        let drained = if replies.blocked_callers() == 0 {
            replies.drain_messages()
        } else {
            Ok(Drained::default())
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
        Ok(())
    }

    /// The receiver thread's body: batches of messages to listeners until
    /// the connection ends.
    fn receive_loop(&self) {
        let mut batch = Vec::new();
        let mut listeners = Snapshot::new(&self.listeners);
        while self.next_batch(&mut batch, None).is_ok() {
            self.deliver(&batch, &mut listeners);
            batch.clear();
        }
    }

    /// Runs the listeners of each message in `batch`, in order.
    fn deliver(&self, batch: &[u8], listeners: &mut Snapshot<RendererListener>) {
        for inbox::Entry {
            channel,
            payload,
            what,
        } in inbox::entries(batch)
        {
            let Ok(channel) = std::str::from_utf8(channel) else {
                log::error!("main sent a message on a channel that is not UTF-8");
                continue;
            };
            let from = match what {
                What::Message { from } => from,
                What::Invoke { call_id } => {
                    // Main gone: the receive loop ends at its next batch.
                    let _ = self.answer_invoke(channel, payload, call_id);
                    continue;
                }
            };
            let list = listeners.refresh(&self.listeners).get(channel);
            if list.is_empty() {
                self.unhandled.fetch_add(1, Ordering::Relaxed);
                log::debug!("no listener for message on '{channel}'");
                continue;
            }
            let event = IpcRendererEvent { channel, from };
            for entry in list {
                if !entry.claim(&self.listeners) {
                    continue;
                }
                if panics::guarded(|| (entry.f)(&event, payload)).is_err() {
                    log::error!("renderer listener for '{channel}' panicked");
                }
            }
        }
    }
}

/// Starts the receiver thread, and returns once it runs: the renderer is
/// then fully up, and the thread's own start-up (which allocates) is not
/// left to land in the caller's first hot loop.
pub(super) fn start_receiver(shared: &Arc<Shared>) -> Result<JoinHandle<()>> {
    let for_thread = shared.clone();
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
    Ok(receiver)
}
