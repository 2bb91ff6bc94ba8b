//! Electron-style inter-process messaging over lock-free shared-memory rings.
//!
//! A main process ([`IpcMain`]) spawns renderer processes ([`IpcRenderer`]);
//! each renderer gets a pair of single-producer/single-consumer rings in a
//! shared segment, so a synchronous call costs a few cache-line transfers
//! instead of a trip through the kernel. See the README for the Electron →
//! ringipc name map and ARCHITECTURE.md for how it works.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    missing_docs,
    missing_debug_implementations
)]

#[cfg(feature = "tokio")]
pub mod async_io;
mod attach;
mod attach_point;
mod buffers;
mod call_line;
mod error;
mod listeners;
mod main_side;
mod os;
mod panics;
pub mod pod;
mod renderer_side;
mod ring;
mod sync;
#[cfg(feature = "serde")]
pub mod value;
mod wait;
mod wire;

#[cfg(not(loom))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(all(test, loom))]
mod model_tests;

pub use attach_point::AttachPoint;
pub use error::{Error, Result};
pub use listeners::ListenerId;
pub use main_side::{
    Config, IpcMain, IpcMainEvent, MainInvocation, Peer, PreparedRenderer, RendererStats,
    Responder, WebContents,
};
pub use os::segment::SegmentBackend;
pub use renderer_side::{Invocation, IpcRenderer, IpcRendererEvent, Message};
pub use wait::WaitBackend;
pub use wire::layout::{MAX_RING_CAPACITY, MIN_RING_CAPACITY};
