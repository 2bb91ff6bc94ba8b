//! Handling one request record: listeners for `send` and `send_sync`, the
//! channel's handler for `invoke`, forwarding for `send_to`, and the answer
//! each call gets.

use super::event::{IpcMainEvent, ReturnValue};
use super::shared::MainShared;
use super::web_contents::{Connection, Route, WebContents};
use super::{MainHandler, MainListener};
use crate::call_line::LineRequest;
use crate::listeners::{Entry, Listeners, Snapshot};
use crate::panics;
use crate::wire::failure::RemoteFailure;
use crate::wire::record::{RecordHeader, Violation};
use crate::wire::request::{Asks, Request};
use std::sync::atomic::Ordering;

/// The dispatcher's cached views of one listener table and one handler
/// table: main's, or those a renderer's `WebContents` registered.
pub(crate) struct Views {
    listeners: Snapshot<MainListener>,
    handlers: Snapshot<MainHandler>,
}

impl Views {
    pub fn new(listeners: &Listeners<MainListener>, handlers: &Listeners<MainHandler>) -> Views {
        Views {
            listeners: Snapshot::new(listeners),
            handlers: Snapshot::new(handlers),
        }
    }
}

/// What handling one record needs, borrowed from the dispatcher.
pub(crate) struct Handling<'a> {
    pub shared: &'a MainShared,
    /// Views of main's own tables.
    pub main: &'a mut Views,
    /// Views of the sending renderer's tables.
    pub own: &'a mut Views,
    pub ret: &'a mut ReturnValue,
    pub sender: &'a WebContents,
}

impl Handling<'_> {
    /// Decodes the record and does what it asks.
    #[inline]
    pub fn handle(self, header: RecordHeader, body: &[u8]) -> Result<(), Violation> {
        let request = Request::decode(&header, body)?;
        let conn = &self.sender.conn;
        if !matches!(request.asks, Asks::Answer { .. }) {
            let call = matches!(request.asks, Asks::Sync | Asks::Invoke);
            conn.counters.record(call, request.payload.len());
        }
        match request.asks {
            Asks::Invoke => self.invoke(request),
            Asks::SendTo(to) => self.forward(request, to),
            Asks::Message | Asks::Sync => self.run_listeners(request, Route::Ring),
            Asks::Answer { error } => {
                let (payload, call) = (request.payload, request.call_id);
                if let Err(refused) = conn.calls.answer(call, error, payload, &conn.account) {
                    conn.disconnect(refused.reason.clone());
                    refused.fail_call();
                }
            }
        }
        Ok(())
    }

    /// A `send_sync` taken off the call line, checked there for length.
    #[inline]
    pub fn handle_line(self, request: &LineRequest) -> Result<(), Violation> {
        let (channel, payload) = request.parts();
        let channel = std::str::from_utf8(channel).map_err(|_| Violation::ChannelNotUtf8)?;
        self.sender.conn.counters.record(true, payload.len());
        let call_id = request.call_id;
        let route = Route::Line { seq: request.seq };
        let request = Request {
            asks: Asks::Sync,
            channel,
            payload,
            call_id,
        };
        self.run_listeners(request, route);
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
                panics::guarded(|| policy(from, target, request.channel)).unwrap_or(false)
            }
            _ => false,
        };
        let (channel, payload) = (request.channel.as_bytes(), request.payload);
        let delivered = match target.filter(|_| allowed) {
            Some(t) => t
                .conn
                .forward(channel, payload, from.id(), &from.conn.account),
            None => Ok(false),
        };
        let conn = &from.conn;
        match delivered {
            Ok(true) => {}
            Ok(false) => {
                conn.counters.refused.fetch_add(1, Ordering::Relaxed);
                if conn.log.admit(conn.id) {
                    let why = if allowed {
                        "not connected"
                    } else {
                        "not allowed"
                    };
                    let channel = request.channel;
                    log::warn!(
                        "renderer {}: message on {channel:?} for renderer {to} not forwarded ({why})",
                        conn.id
                    );
                }
            }
            // Its messages waiting for their target hold too much memory.
            Err(reason) => conn.disconnect(reason),
        }
    }

    /// `send` and `send_sync`: every listener of the channel, in order: the
    /// renderer's own, then main's (Electron's order). A sync message's
    /// answer goes back by `route`.
    #[inline]
    fn run_listeners(self, request: Request<'_>, route: Route) {
        let Request {
            asks,
            channel,
            payload,
            call_id,
        } = request;
        let sync = asks == Asks::Sync;
        let conn = &self.sender.conn;
        let own = self.own.listeners.refresh(&conn.listeners).get(channel);
        let main = self
            .main
            .listeners
            .refresh(&self.shared.listeners)
            .get(channel);
        if own.is_empty() && main.is_empty() {
            if sync {
                conn.fail_call(route, call_id, RemoteFailure::NoListener, "");
            } else {
                conn.unhandled.fetch_add(1, Ordering::Relaxed);
                if conn.log.admit(conn.id) {
                    log::debug!(
                        "renderer {}: no listener for message on {channel:?}",
                        conn.id
                    );
                }
            }
            return;
        }
        self.ret.reset();
        let mut event = IpcMainEvent {
            sender: self.sender,
            channel,
            sync,
            invoke: false,
            call_id,
            route,
            reply: self.ret,
        };
        let in_order = own.iter().map(|e| (e, &conn.listeners));
        let in_order = in_order.chain(main.iter().map(|e| (e, &self.shared.listeners)));
        let mut panicked = None;
        for (entry, table) in in_order {
            if !entry.claim(table) {
                continue;
            }
            if let Err(message) = panics::guarded(|| (entry.f)(&mut event, payload)) {
                if conn.log.admit(conn.id) {
                    log::error!("listener for {channel:?} panicked: {message:?}");
                }
                panicked = Some(message);
                break;
            }
        }
        if sync {
            answer_sync(conn, route, call_id, self.ret, panicked);
        }
    }

    /// `invoke`: the channel's one handler (the renderer's own, else main's)
    /// returns the answer or an error.
    fn invoke(self, request: Request<'_>) {
        let Request {
            channel,
            payload,
            call_id,
            ..
        } = request;
        let conn = &self.sender.conn;
        let own = self.own.handlers.refresh(&conn.handlers).get(channel);
        let entry = claim_first(own, &conn.handlers).or_else(|| {
            let main = self
                .main
                .handlers
                .refresh(&self.shared.handlers)
                .get(channel);
            claim_first(main, &self.shared.handlers)
        });
        let Some(entry) = entry else {
            conn.fail(call_id, RemoteFailure::NoHandler, "");
            conn.wake_receiver();
            return;
        };
        self.ret.reset();
        let mut event = IpcMainEvent {
            sender: self.sender,
            channel,
            sync: false,
            invoke: true,
            call_id,
            route: Route::Ring,
            reply: self.ret,
        };
        let outcome = panics::guarded(|| (entry.f)(&mut event, payload));
        if self.ret.deferred {
            // The handler took the responder, which answers (or, dropped,
            // fails the call) in its place, and wakes the receiver then.
            if let Err(message) = &outcome
                && conn.log.admit(conn.id)
            {
                log::error!("handler for {channel:?} panicked after deferring: {message:?}");
            }
            return;
        }
        match outcome {
            Ok(Ok(())) => {
                // A failure to reply is a disconnect, recorded on the connection.
                let _ = conn.answer(call_id, &self.ret.bytes);
            }
            Ok(Err(message)) => conn.fail(call_id, RemoteFailure::HandlerFailed, &message),
            Err(message) => {
                if conn.log.admit(conn.id) {
                    log::error!("handler for {channel:?} panicked: {message:?}");
                }
                conn.fail(call_id, RemoteFailure::HandlerPanicked, &message);
            }
        }
        // Nobody may be blocked on this answer yet.
        conn.wake_receiver();
    }
}

/// A channel's handler, if it has one that may run (a `handle_once` one
/// runs only for the call that removes it).
fn claim_first<'a>(
    handlers: &'a [Entry<MainHandler>],
    table: &Listeners<MainHandler>,
) -> Option<&'a Entry<MainHandler>> {
    handlers.first().filter(|e| e.claim(table))
}

/// Answers a `send_sync` once its listeners ran, unless one of them did
/// (a value set is sent at once) or took the responder to answer later:
/// with the reason there is no value.
fn answer_sync(
    conn: &Connection,
    route: Route,
    call_id: u64,
    ret: &ReturnValue,
    panicked: Option<String>,
) {
    if ret.deferred || ret.set {
        return;
    }
    match panicked {
        Some(message) => conn.fail_call(route, call_id, RemoteFailure::HandlerPanicked, &message),
        None => conn.fail_call(route, call_id, RemoteFailure::NoReturnValue, ""),
    }
}
