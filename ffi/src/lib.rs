//! The C ABI of [ringipc](https://docs.rs/ringipc): a shared library
//! (`libringipc_ffi.so`) and a static one (`libringipc_ffi.a`) behind the
//! header `ffi/include/ringipc.h`, which cbindgen generates from this crate.
//!
//! Every exported function catches panics (they become
//! `RINGIPC_STATUS_PANIC`) and reports failures as a status code plus a
//! per-thread message (`ringipc_last_error`). Handles are opaque heap
//! objects the caller frees with the matching `_free`; events and
//! `ringipc_web_contents` handles passed to callbacks are borrowed for the
//! callback. The header says, for each callback, which thread runs it.
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    missing_docs,
    missing_debug_implementations
)]

mod config;
mod main_api;
mod main_event;
mod raw;
mod renderer_api;
mod status;
mod web_contents;

pub use config::*;
pub use main_api::*;
pub use main_event::*;
pub use raw::{ringipc_bytes, ringipc_bytes_free, ringipc_free_fn};
pub use renderer_api::*;
pub use status::{ringipc_last_error, ringipc_status, ringipc_status_name};
pub use web_contents::*;

use std::time::Duration;

/// A C timeout in milliseconds: negative means none (wait for ever).
fn timeout(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}
