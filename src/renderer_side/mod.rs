//! The renderer process: [`IpcRenderer`], connecting from the inherited
//! invitation, sending and calls, and receiving messages from main.

mod answer;
mod call;
mod connect;
mod connect_socket;
pub(crate) mod drain_turn;
mod event;
pub(crate) mod inbox;
mod invocation;
mod ipc_renderer;
mod line_call;
mod receiver;
pub(crate) mod replies;
mod send;
mod shared;

pub use event::{IpcRendererEvent, Message};
pub use invocation::Invocation;
pub use ipc_renderer::IpcRenderer;
