//! The main process: [`IpcMain`] and what it hands out ([`WebContents`],
//! [`IpcMainEvent`], [`Responder`]), the dispatcher that serves every
//! renderer, and spawning them.
//!
//! This module root also names the shapes of main-side callbacks, which
//! every file of the side shares.

mod admission;
mod budget;
mod calls;
mod config;
mod control;
mod dispatcher;
mod dispatcher_waker;
mod door;
mod doors;
mod event;
mod handlers;
mod handling;
mod incoming;
mod ipc_main;
mod lifecycle;
mod listen;
mod log_gate;
mod outbox;
mod responder;
mod sent_signal;
mod shared;
mod slot;
mod spawn;
mod stats;
mod stream;
mod web_contents;

pub use admission::Peer;
pub use calls::MainInvocation;
pub use config::Config;
pub use event::IpcMainEvent;
pub use ipc_main::IpcMain;
pub use responder::Responder;
pub use spawn::PreparedRenderer;
pub use stats::RendererStats;
pub use web_contents::WebContents;

pub(crate) use handlers::register_handler;

/// A main-side listener: `Fn(&mut IpcMainEvent, &[u8])`.
pub(crate) type MainListener = dyn Fn(&mut IpcMainEvent<'_>, &[u8]) + Send + Sync;

/// A handler with its return value written into the event's buffer and its
/// error turned into text.
pub(crate) type MainHandler =
    dyn Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<(), String> + Send + Sync;

/// Decides whether main forwards a renderer's `send_to` message:
/// `(from, to, channel) -> allowed`.
pub(crate) type ForwardingPolicy = dyn Fn(&WebContents, &WebContents, &str) -> bool + Send + Sync;
