//! The native half of ringipc's Node.js module (`node/index.js` is the
//! other): one `NativeMain` or `NativeRenderer` per process, each watched
//! inside Node's event loop through its descriptor (`uv.rs`). JavaScript
//! owns the API Electron users know (EventEmitters, Promises, structured
//! clone); this crate moves bytes and answers calls by token.

mod errors;
mod main_native;
mod renderer_native;
mod uv;
