//! (feature `tokio`) Main and renderers on tokio's reactor: [`AsyncMain`]
//! dispatches and [`AsyncRenderer`] receives as futures, each waiting on its
//! descriptor with tokio's `AsyncFd` (edge-triggered: readiness is cleared
//! only after a call reported nothing, as the descriptor's contract asks).
//!
//! Listeners and handlers run on the task that awaits, so keep them short;
//! an [`crate::Invocation`] in a renderer is answered while a task awaits
//! [`AsyncRenderer::recv`] (or calls), so keep one receiving.
//!
//! ```no_run
//! # async fn run() -> ringipc::Result<()> {
//! use ringipc::async_io::AsyncMain;
//! let config = ringipc::Config::default().dispatcher_thread(false);
//! let main = AsyncMain::new(ringipc::IpcMain::with_config(config)?)?;
//! main.ipc().on("ping", |event, _| { event.set_return_value("pong"); })?;
//! main.serve().await // until main shuts down
//! # }
//! ```

use crate::error::{Error, Result};
use crate::{IpcMain, IpcRenderer, Message};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Registers `inner`'s descriptor with the current runtime's reactor.
fn register<T: AsRawFd>(inner: T) -> Result<AsyncFd<T>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Io(std::io::Error::other(
            "not inside a tokio runtime",
        )));
    }
    // SAFETY: the descriptor is the epoll set of the main or renderer that
    // `inner` owns: open for as long as `inner` lives (the `AsyncFd` owns
    // it), and `as_raw_fd` always returns that same descriptor.
    let registered = unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) };
    registered.map_err(|e| Error::Io(e.into()))
}

/// The descriptor of a hosted main, as `AsyncFd` wants it.
#[derive(Debug)]
struct MainFd(IpcMain);

impl AsRawFd for MainFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An [`IpcMain`] built with [`crate::Config::dispatcher_thread`]`(false)`,
/// dispatched by tokio tasks.
#[derive(Debug)]
pub struct AsyncMain {
    fd: AsyncFd<MainFd>,
}

impl AsyncMain {
    /// Registers `ipc`'s descriptor with the current tokio runtime, which
    /// must have IO enabled (`enable_io` or `enable_all`: tokio panics
    /// otherwise). Fails with [`Error::WrongMode`] for a main with its own
    /// dispatcher thread, and with [`Error::Io`] outside a runtime.
    pub fn new(ipc: IpcMain) -> Result<AsyncMain> {
        if ipc
            .dispatch(Duration::ZERO)
            .is_err_and(|e| matches!(e, Error::WrongMode(_)))
        {
            return Err(Error::WrongMode(
                "AsyncMain needs a main built with Config::dispatcher_thread(false)",
            ));
        }
        Ok(AsyncMain {
            fd: register(MainFd(ipc))?,
        })
    }

    /// The main it dispatches: register listeners, spawn renderers.
    pub fn ipc(&self) -> &IpcMain {
        &self.fd.get_ref().0
    }

    /// Waits until there is something to dispatch, handles a round of it,
    /// and returns how many records were handled (at least one). Returning
    /// after each round lets other tasks of the runtime run under steady
    /// traffic. Fails with [`Error::Disconnected`] once main shut down.
    pub async fn dispatch(&self) -> Result<usize> {
        loop {
            // Look first: only a call that reports nothing asks renderers to
            // signal the descriptor.
            match self.ipc().dispatch(Duration::ZERO)? {
                0 => self.fd.readable().await?.clear_ready(),
                handled => return Ok(handled),
            }
        }
    }

    /// Dispatches until main shuts down; then returns `Ok(())`.
    pub async fn serve(&self) -> Result<()> {
        loop {
            match self.dispatch().await {
                // Give the runtime's other tasks their turn between rounds.
                Ok(_) => tokio::task::yield_now().await,
                Err(Error::Disconnected) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The descriptor of a pumped renderer, as `AsyncFd` wants it.
#[derive(Debug)]
struct RendererFd(IpcRenderer);

impl AsRawFd for RendererFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An [`IpcRenderer`] connected with
/// [`IpcRenderer::from_env_without_receiver`], receiving in tokio tasks.
#[derive(Debug)]
pub struct AsyncRenderer {
    fd: AsyncFd<RendererFd>,
}

impl AsyncRenderer {
    /// Registers `ipc`'s descriptor with the current tokio runtime, which
    /// must have IO enabled (`enable_io` or `enable_all`: tokio panics
    /// otherwise). Fails with [`Error::WrongMode`] for a renderer with a
    /// receiver thread, and with [`Error::Io`] outside a runtime.
    pub fn new(ipc: IpcRenderer) -> Result<AsyncRenderer> {
        if !ipc.is_pumped() {
            return Err(Error::WrongMode(
                "AsyncRenderer needs a renderer connected with from_env_without_receiver",
            ));
        }
        Ok(AsyncRenderer {
            fd: register(RendererFd(ipc))?,
        })
    }

    /// The renderer: send, call, invoke (await the [`crate::Invocation`]).
    pub fn ipc(&self) -> &IpcRenderer {
        &self.fd.get_ref().0
    }

    /// The next message from main. Main's `invoke`s that arrive meanwhile
    /// are answered here, by the renderer's handlers. Fails with
    /// [`Error::Disconnected`] once main is gone.
    pub async fn recv(&self) -> Result<Message> {
        loop {
            if let Some(message) = self.ipc().try_recv()? {
                return Ok(message);
            }
            // Nothing left, and main asked to signal the next message: wait
            // for it, then look again.
            self.fd.readable().await?.clear_ready();
        }
    }
}
