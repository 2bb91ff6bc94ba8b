//! The comparison's peers that need other crates: ipc-channel 0.23 and
//! iceoryx2 0.10, compiled only with `--features peers`.
//!
//! Every peer forks a child process that runs the "remote" side (echo server or message
//! counter) while the parent measures. The children are stopped, reaped and - for iceoryx2 -
//! cleaned up on drop. iceoryx2 runs in a domain private to this process (see `iox_config`);
//! after the last peer is dropped, [`remove_iceoryx2_domain`] removes what iceoryx2 keeps by
//! design, so that a run leaves nothing behind in `/dev/shm` or the temp directory.
//!
//! Fork safety: the peers must be created while the process is single-threaded (the case for
//! a plain `main`, *not* for the libtest harness). The child continues with a copy of the
//! address space in which only the forking thread exists; any lock held by another thread at
//! the time of the fork (e.g. inside the allocator) would stay locked forever in the child.
//!
//! No iceoryx2 object crosses the fork: the child creates its own node, services and ports
//! after forking, and the parent creates its own only after the child reported them ready (no
//! open/create race). Inherited objects would be broken anyway, since iceoryx2 ties a node's
//! liveness to an `fcntl` lock, which is per process and not inherited. What *is* inherited is
//! iceoryx2's cached per-process id, see [`remove_iceoryx2_domain`] for the consequence.
//!
//! Peers are meant to be used one at a time: a child inherits every file descriptor that the
//! parent has open at the time of the fork, including those of other live peers.

mod child;
mod iceoryx2;
mod iceoryx2_domain;
mod iceoryx2_plumbing;
mod ipc_channel;

use std::error::Error;

// `self::` because the crates of the same names are in scope too.
pub use self::iceoryx2::{IceoryxRequestResponse, iceoryx2_messages_per_second};
pub use self::iceoryx2_domain::remove_iceoryx2_domain;
pub use self::ipc_channel::{IpcChannelEcho, ipc_channel_messages_per_second};

pub type BoxError = Box<dyn Error>;

type Msg16 = [u8; 16];

/// A request whose content changes per call, so the echo is actually verified.
fn request(seq: u64) -> Msg16 {
    let mut msg = [0x5a; 16];
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    msg
}
