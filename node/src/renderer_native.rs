//! `NativeRenderer`: this process's `IpcRenderer` without a receiver
//! thread, pumped on Node's JavaScript thread whenever its descriptor is
//! readable. `sendSync` blocks that thread, as in Electron; `invoke`'s
//! answers and main's messages come back through `drain()`.

use crate::errors::{code, detail, to_js};
use crate::uv::Poll;
use napi::bindgen_prelude::Buffer;
use napi::{Env, JsFunction, Result};
use napi_derive::napi;
use ringipc::{Error, Invocation, IpcRenderer};
use std::collections::HashMap;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll as TaskPoll, Wake, Waker};

/// What `drain()` returns: a message, an invocation settled, or the end.
#[napi(object)]
pub struct RendererDelivery {
    /// 0 a message from main, 1 an answer, 2 a failed call, 3 main is gone.
    pub kind: u32,
    pub channel: Option<String>,
    pub payload: Option<Buffer>,
    /// The renderer that sent it through main (`send_to`), if not main.
    pub sender_id: Option<u32>,
    /// The invocation settled (kinds 1 and 2).
    pub token: Option<u32>,
    /// Kinds 2 and 3: the error's `code`, its full message, and the
    /// handler's own text.
    pub code: Option<String>,
    pub message: Option<String>,
    pub detail: Option<String>,
}

const MESSAGE: u32 = 0;
const ANSWER: u32 = 1;
const FAILED: u32 = 2;
const CLOSED: u32 = 3;

/// Wakes an invocation by putting its token on the ready list.
struct Ready {
    token: u32,
    list: Arc<Mutex<Vec<u32>>>,
}

impl Wake for Ready {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.list).push(self.token);
    }
}

#[napi]
pub struct NativeRenderer {
    /// First, so that it stops watching before the descriptor closes.
    poll: Poll,
    ipc: IpcRenderer,
    pending: HashMap<u32, (Invocation, Waker)>,
    ready: Arc<Mutex<Vec<u32>>>,
    next_token: u32,
    closed: bool,
}

#[napi]
impl NativeRenderer {
    /// Connects to main through the invitation this process inherited;
    /// `on_readable` is called (with no arguments) whenever `drain` has
    /// something to do.
    #[napi(constructor)]
    pub fn new(env: Env, on_readable: JsFunction) -> Result<NativeRenderer> {
        let ipc = IpcRenderer::from_env_without_receiver().map_err(to_js)?;
        let poll = Poll::new(&env, ipc.as_raw_fd(), on_readable, "ringipc:ipcRenderer")?;
        Ok(NativeRenderer {
            ipc,
            pending: HashMap::new(),
            ready: Arc::default(),
            next_token: 0,
            closed: false,
            poll,
        })
    }

    /// Main's id for this renderer.
    #[napi]
    pub fn id(&self) -> u32 {
        self.ipc.id()
    }

    #[napi]
    pub fn send(&self, channel: String, payload: Buffer) -> Result<()> {
        self.ipc.send(&channel, &payload).map_err(to_js)
    }

    /// Blocks this thread until main answers.
    #[napi]
    pub fn send_sync(&self, channel: String, payload: Buffer) -> Result<Buffer> {
        let answer = self.ipc.send_sync(&channel, &payload).map_err(to_js)?;
        Ok(answer.into())
    }

    /// Starts an `invoke`; its answer comes out of `drain` under the
    /// returned token.
    #[napi]
    pub fn invoke(&mut self, channel: String, payload: Buffer) -> Result<u32> {
        let invocation = self.ipc.invoke(&channel, &payload).map_err(to_js)?;
        self.next_token = self.next_token.wrapping_add(1);
        let token = self.next_token;
        let waker = Waker::from(Arc::new(Ready {
            token,
            list: self.ready.clone(),
        }));
        self.pending.insert(token, (invocation, waker));
        // Polled once now: registers the waker, or finds the answer that a
        // fast main already sent.
        lock(&self.ready).push(token);
        Ok(token)
    }

    /// Whether settled invocations wait for `drain` (after a `sendSync`
    /// drained their answers, say, the descriptor need not be readable).
    #[napi]
    pub fn has_work(&self) -> bool {
        !lock(&self.ready).is_empty()
    }

    /// Everything that arrived: main's messages in order, then settled
    /// invocations; once main is gone, every pending call fails and a last
    /// delivery says so. An empty array means the descriptor is armed.
    #[napi]
    pub fn drain(&mut self) -> Vec<RendererDelivery> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        let mut gone = None;
        loop {
            match self.ipc.try_recv() {
                Ok(Some(m)) => out.push(RendererDelivery {
                    kind: MESSAGE,
                    channel: Some(m.channel),
                    payload: Some(m.payload.into()),
                    sender_id: m.sender_id,
                    ..empty()
                }),
                Ok(None) => break,
                Err(e) => {
                    gone = Some(e);
                    break;
                }
            }
        }
        let ready: Vec<u32> = std::mem::take(&mut *lock(&self.ready));
        for token in ready {
            self.settle(token, &mut out);
        }
        if let Some(e) = gone {
            // The answers still in flight will never come.
            let tokens: Vec<u32> = self.pending.keys().copied().collect();
            for token in tokens {
                self.settle(token, &mut out);
            }
            out.push(RendererDelivery {
                kind: CLOSED,
                ..failure(None, &e)
            });
            self.closed = true;
            // The lifeline's end of stream keeps the descriptor readable.
            self.poll.stop();
        }
        out
    }

    /// Polls invocation `token` once; if it settled, says how.
    fn settle(&mut self, token: u32, out: &mut Vec<RendererDelivery>) {
        let Some((invocation, waker)) = self.pending.get_mut(&token) else {
            return;
        };
        let mut cx = Context::from_waker(waker);
        let settled = match Pin::new(invocation).poll(&mut cx) {
            TaskPoll::Pending => return,
            TaskPoll::Ready(settled) => settled,
        };
        self.pending.remove(&token);
        out.push(match settled {
            Ok(answer) => RendererDelivery {
                kind: ANSWER,
                payload: Some(answer.into()),
                token: Some(token),
                ..empty()
            },
            Err(e) => failure(Some(token), &e),
        });
    }

    /// Whether the descriptor keeps the process alive (JavaScript says yes
    /// while listeners or invocations wait).
    #[napi]
    pub fn set_ref(&mut self, keep_alive: bool) {
        self.poll.set_ref(keep_alive && !self.closed);
    }
}

fn empty() -> RendererDelivery {
    RendererDelivery {
        kind: MESSAGE,
        channel: None,
        payload: None,
        sender_id: None,
        token: None,
        code: None,
        message: None,
        detail: None,
    }
}

fn failure(token: Option<u32>, e: &Error) -> RendererDelivery {
    RendererDelivery {
        kind: FAILED,
        token,
        code: Some(code(e).to_owned()),
        message: Some(e.to_string()),
        detail: Some(detail(e)),
        ..empty()
    }
}

fn lock(list: &Mutex<Vec<u32>>) -> std::sync::MutexGuard<'_, Vec<u32>> {
    list.lock().unwrap_or_else(|e| e.into_inner())
}
