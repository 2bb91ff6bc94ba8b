//! `NativeMain`: the process's `IpcMain`, dispatched on Node's JavaScript
//! thread whenever its descriptor is readable.
//!
//! Rust listeners and handlers never call JavaScript. They queue what
//! arrived (taking the right to answer a call, a [`Responder`]), and
//! `drain()` hands the queue to JavaScript, which emits the events and
//! answers through a token. So JavaScript never runs inside the dispatcher,
//! a handler may answer after an `await`, and `event.returnValue` may be set
//! late, as in Electron.

use crate::errors::to_js;
use crate::uv::Poll;
use napi::bindgen_prelude::Buffer;
use napi::{Env, JsFunction, Result};
use napi_derive::napi;
use ringipc::{Config, IpcMain, ListenerId, PreparedRenderer, Responder, WebContents};
use std::collections::{HashMap, VecDeque};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `drain()` returns: one thing JavaScript must act on.
#[napi(object)]
pub struct MainDelivery {
    /// 0 a message, 1 a `sendSync`, 2 an `invoke`, 3 a renderer left.
    pub kind: u32,
    /// The renderer's id.
    pub sender: u32,
    pub channel: Option<String>,
    pub payload: Option<Buffer>,
    /// For `sendSync` and `invoke`: how JavaScript answers (`respond`, `fail`,
    /// `forget`).
    pub token: Option<u32>,
    /// Why a renderer left.
    pub reason: Option<String>,
}

const MESSAGE: u32 = 0;
const SYNC: u32 = 1;
const INVOKE: u32 = 2;
const LEFT: u32 = 3;

enum Queued {
    Message {
        sender: u32,
        channel: String,
        payload: Vec<u8>,
        responder: Option<Responder>,
    },
    Invoke {
        sender: u32,
        channel: String,
        payload: Vec<u8>,
        responder: Responder,
    },
    Left {
        sender: u32,
        reason: String,
    },
}

type Queue = Arc<Mutex<VecDeque<Queued>>>;

/// The `PreparedRenderer` half of a spawn: descriptors for JavaScript to
/// hand to `child_process.spawn`.
#[napi(object)]
pub struct Prepared {
    pub id: u32,
    /// None for a named segment, which the child opens by name.
    pub segment_fd: Option<i32>,
    pub lifeline_fd: i32,
}

#[napi]
pub struct NativeMain {
    /// First, so that it stops watching before the descriptor closes.
    poll: Poll,
    ipc: IpcMain,
    queue: Queue,
    /// Calls waiting for JavaScript's answer, by token.
    responders: HashMap<u32, Responder>,
    next_token: u32,
    /// Connected renderers, by id.
    renderers: HashMap<u32, WebContents>,
    prepared: HashMap<u32, PreparedRenderer>,
    /// The Rust listener that queues each channel's messages, registered
    /// while JavaScript has listeners for it.
    listening: HashMap<String, ListenerId>,
    /// How long `drain` keeps spinning for a burst's next message.
    spin: Duration,
    shut_down: bool,
}

#[napi]
impl NativeMain {
    /// A main dispatched on this thread; `on_readable` is called (with no
    /// arguments) whenever `drain` has something to do.
    #[napi(constructor)]
    pub fn new(env: Env, on_readable: JsFunction) -> Result<NativeMain> {
        let ipc =
            IpcMain::with_config(Config::default().dispatcher_thread(false)).map_err(to_js)?;
        let queue = Queue::default();
        let left = queue.clone();
        ipc.on_disconnected(move |renderer, reason| {
            let sender = renderer.id();
            let reason = reason.to_owned();
            lock(&left).push_back(Queued::Left { sender, reason });
        });
        let poll = Poll::new(&env, ipc.as_raw_fd(), on_readable, "ringipc:ipcMain")?;
        Ok(NativeMain {
            ipc,
            queue,
            responders: HashMap::new(),
            next_token: 0,
            renderers: HashMap::new(),
            prepared: HashMap::new(),
            listening: HashMap::new(),
            spin: Duration::from_micros(50),
            shut_down: false,
            poll,
        })
    }

    /// Runs main's dispatch and returns what arrived, spinning up to the
    /// spin window for a first record. An empty array means nothing is left
    /// and the descriptor is armed: JavaScript waits for `on_readable`.
    #[napi]
    pub fn drain(&mut self) -> Result<Vec<MainDelivery>> {
        if self.shut_down {
            return Ok(Vec::new());
        }
        // Records that queue nothing (a fragment, a message on a channel
        // JavaScript stopped listening to) count as handled: dispatch again
        // until something is queued or a round finds nothing, which arms
        // the descriptor.
        while lock(&self.queue).is_empty() {
            if self.ipc.dispatch_next(self.spin).map_err(to_js)? == 0 {
                break;
            }
        }
        let queued: Vec<Queued> = lock(&self.queue).drain(..).collect();
        let mut out = Vec::with_capacity(queued.len());
        for q in queued {
            out.push(self.deliver(q));
        }
        Ok(out)
    }

    fn deliver(&mut self, q: Queued) -> MainDelivery {
        let mut token_for = |responder: Responder| {
            self.next_token = self.next_token.wrapping_add(1);
            self.responders.insert(self.next_token, responder);
            self.next_token
        };
        match q {
            Queued::Message {
                sender,
                channel,
                payload,
                responder,
            } => MainDelivery {
                kind: if responder.is_some() { SYNC } else { MESSAGE },
                sender,
                channel: Some(channel),
                payload: Some(payload.into()),
                token: responder.map(&mut token_for),
                reason: None,
            },
            Queued::Invoke {
                sender,
                channel,
                payload,
                responder,
            } => MainDelivery {
                kind: INVOKE,
                sender,
                channel: Some(channel),
                payload: Some(payload.into()),
                token: Some(token_for(responder)),
                reason: None,
            },
            Queued::Left { sender, reason } => {
                self.renderers.remove(&sender);
                MainDelivery {
                    kind: LEFT,
                    sender,
                    channel: None,
                    payload: None,
                    token: None,
                    reason: Some(reason),
                }
            }
        }
    }

    /// How long `drain` spins for a burst's next message before it lets the
    /// JavaScript thread go back to its loop, in microseconds (0: never).
    #[napi]
    pub fn set_spin(&mut self, micros: u32) {
        self.spin = Duration::from_micros(u64::from(micros));
    }

    /// Starts queueing `channel`'s messages (JavaScript has a listener).
    #[napi]
    pub fn listen(&mut self, channel: String) -> Result<()> {
        if self.listening.contains_key(&channel) {
            return Ok(());
        }
        let queue = self.queue.clone();
        let id = self
            .ipc
            .on(&channel, move |event, payload| {
                let responder = if event.is_sync() {
                    event.take_responder()
                } else {
                    None
                };
                lock(&queue).push_back(Queued::Message {
                    sender: event.sender().id(),
                    channel: event.channel().to_owned(),
                    payload: payload.to_vec(),
                    responder,
                });
            })
            .map_err(to_js)?;
        self.listening.insert(channel, id);
        Ok(())
    }

    /// Stops queueing `channel`'s messages: they count as unhandled again,
    /// and a `sendSync` on it fails at once.
    #[napi]
    pub fn unlisten(&mut self, channel: String) {
        if let Some(id) = self.listening.remove(&channel) {
            self.ipc.remove_listener(id);
        }
    }

    /// Makes JavaScript `channel`'s handler (`ipcMain.handle`).
    #[napi]
    pub fn handle(&mut self, channel: String) -> Result<()> {
        let queue = self.queue.clone();
        self.ipc
            .handle(&channel, move |event, payload| {
                if let Some(responder) = event.take_responder() {
                    lock(&queue).push_back(Queued::Invoke {
                        sender: event.sender().id(),
                        channel: event.channel().to_owned(),
                        payload: payload.to_vec(),
                        responder,
                    });
                }
                Ok::<_, String>([])
            })
            .map_err(to_js)
    }

    #[napi]
    pub fn remove_handler(&mut self, channel: String) -> bool {
        self.ipc.remove_handler(&channel)
    }

    /// Answers call `token` with a serialized value.
    #[napi]
    pub fn respond(&mut self, token: u32, value: Buffer) -> Result<()> {
        match self.responders.remove(&token) {
            Some(r) => r.respond(&value).map_err(to_js),
            None => Ok(()),
        }
    }

    /// Fails call `token`: the caller's `sendSync` or `invoke` throws with
    /// `message`.
    #[napi]
    pub fn fail(&mut self, token: u32, message: String) {
        if let Some(r) = self.responders.remove(&token) {
            r.fail(&message);
        }
    }

    /// Gives up call `token` unanswered (its event was collected): the
    /// caller fails with "no return value".
    #[napi]
    pub fn forget(&mut self, token: u32) {
        self.responders.remove(&token);
    }

    /// Makes a renderer's segment and lifeline for `child_process.spawn`.
    #[napi]
    pub fn prepare(&mut self) -> Result<Prepared> {
        let prepared = self.ipc.prepare_renderer().map_err(to_js)?;
        let out = Prepared {
            id: prepared.id(),
            segment_fd: prepared.segment_fd().map(|fd| fd.as_raw_fd()),
            lifeline_fd: prepared.lifeline_fd().as_raw_fd(),
        };
        self.prepared.insert(out.id, prepared);
        Ok(out)
    }

    /// The environment variable, `[name, value]`, for renderer `id` whose
    /// child has the segment and lifeline under these numbers.
    #[napi]
    pub fn environment(&self, id: u32, segment_fd: i32, lifeline_fd: i32) -> Result<Vec<String>> {
        let prepared = self.prepared.get(&id).ok_or_else(|| unknown(id))?;
        let (name, value) = prepared
            .environment(segment_fd, lifeline_fd)
            .map_err(to_js)?;
        Ok(vec![name.to_owned(), value])
    }

    /// Renderer `id`'s child started as `pid` (not yet reaped).
    #[napi]
    pub fn started(&mut self, id: u32, pid: u32) -> Result<()> {
        let prepared = self.prepared.remove(&id).ok_or_else(|| unknown(id))?;
        let web_contents = prepared.started(pid);
        self.renderers.insert(id, web_contents);
        Ok(())
    }

    /// Its child never started: closes the descriptors.
    #[napi]
    pub fn abandon(&mut self, id: u32) {
        self.prepared.remove(&id);
    }

    /// `webContents.send`: a serialized message to renderer `id`.
    #[napi]
    pub fn send(&self, id: u32, channel: String, payload: Buffer) -> Result<()> {
        let renderer = self.renderers.get(&id).ok_or_else(|| gone(id))?;
        renderer.send(&channel, &payload).map_err(to_js)
    }

    /// Renderer `id`'s process id.
    #[napi]
    pub fn pid(&self, id: u32) -> Option<u32> {
        self.renderers.get(&id).map(|r| r.process_id())
    }

    /// Whether main's descriptor keeps the process alive (JavaScript says
    /// yes while renderers are connected).
    #[napi]
    pub fn set_ref(&mut self, keep_alive: bool) {
        self.poll.set_ref(keep_alive);
    }

    /// Disconnects every renderer and stops main; later calls fail.
    #[napi]
    pub fn shutdown(&mut self) {
        self.ipc.shutdown();
        self.responders.clear();
        self.prepared.clear();
        // Its descriptor stays readable from now on: stop watching it.
        self.poll.stop();
        self.shut_down = true;
    }
}

fn lock(queue: &Queue) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
    // A panic while holding it cannot leave the queue half-changed.
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

fn unknown(id: u32) -> napi::Error {
    napi::Error::from_reason(format!(
        "ERR_INVALID_ARG\0no renderer {id} is being prepared"
    ))
}

fn gone(id: u32) -> napi::Error {
    napi::Error::from_reason(format!("ERR_DISCONNECTED\0renderer {id} is not connected"))
}
