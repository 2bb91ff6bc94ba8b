//! The ipc-channel peers: round trips ([`IpcChannelEcho`]) and the one-way message rate.

use std::hint::black_box;
use std::time::Instant;

use ipc_channel::IpcError;
use ipc_channel::ipc::{IpcReceiver, IpcSender, channel as ipc_channel_pair};

use super::child::{ChildProcess, fork_child};
use super::{BoxError, Msg16, request};
use crate::RoundTrip;

/// Payload of the one-way rate test for ipc-channel. serde only implements its traits for
/// arrays of up to 32 elements, so 64 bytes are sent as two halves (postcard encodes this as
/// exactly 64 bytes, no length prefix).
type Msg64Halves = ([u8; 32], [u8; 32]);

/// Round trips over two ipc-channel channels (Unix `SOCK_SEQPACKET` socket pairs on Linux).
/// They are created before the fork; each process closes the ends it does not use, so the
/// child sees `Disconnected` as soon as the parent drops its sender.
pub struct IpcChannelEcho {
    // Declared first so it is dropped first: closing it is the child's stop signal.
    to_child: IpcSender<Msg16>,
    from_child: IpcReceiver<Msg16>,
    child: ChildProcess,
    seq: u64,
}

impl IpcChannelEcho {
    pub fn start() -> Result<Self, BoxError> {
        let (to_child, child_rx) = ipc_channel_pair::<Msg16>()?;
        let (child_tx, from_child) = ipc_channel_pair::<Msg16>()?;
        let ((to_child, from_child), child) = fork_child((to_child, from_child), move || {
            echo_ipc_channel(child_rx, child_tx)
        })?;
        Ok(Self {
            to_child,
            from_child,
            child,
            seq: 0,
        })
    }
}

fn echo_ipc_channel(rx: IpcReceiver<Msg16>, tx: IpcSender<Msg16>) -> Result<(), BoxError> {
    loop {
        match rx.recv() {
            Ok(msg) => tx.send(msg)?,
            Err(IpcError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

impl RoundTrip for IpcChannelEcho {
    fn name(&self) -> &'static str {
        "ipc-channel 0.23"
    }

    fn round_trip(&mut self) {
        self.seq += 1;
        let req = request(self.seq);
        self.to_child.send(req).expect("ipc-channel: send failed");
        // A dead child closes its sender, so this cannot hang.
        let reply = self
            .from_child
            .recv()
            .unwrap_or_else(|e| panic!("ipc-channel: no reply (child {}): {e}", self.child.pid));
        assert_eq!(reply, req, "ipc-channel: wrong echo");
    }
}

/// Sends `n` 64-byte messages from the parent to a forked child over ipc-channel; returns
/// messages per second from the first send until the child acknowledged the last one.
pub fn ipc_channel_messages_per_second(n: u64) -> f64 {
    ipc_channel_rate(n).expect("ipc-channel rate benchmark failed")
}

fn ipc_channel_rate(n: u64) -> Result<f64, BoxError> {
    let (data_tx, data_rx) = ipc_channel_pair::<Msg64Halves>()?;
    let (ack_tx, ack_rx) = ipc_channel_pair::<u64>()?;
    let ((data_tx, ack_rx), _child) = fork_child((data_tx, ack_rx), move || {
        for _ in 0..n {
            black_box(data_rx.recv()?);
        }
        ack_tx.send(n)?;
        Ok(())
    })?;

    let msg: Msg64Halves = ([0xa5; 32], [0x5a; 32]);
    let start = Instant::now();
    for _ in 0..n {
        // Blocks while the socket buffer is full, so nothing is dropped.
        data_tx.send(msg)?;
    }
    let acked = ack_rx.recv()?;
    let elapsed = start.elapsed();
    if acked != n {
        return Err(format!("child acknowledged {acked} of {n} messages").into());
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}
