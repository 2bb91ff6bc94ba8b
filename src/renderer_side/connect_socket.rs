//! Attaching to a main that did not spawn this process: the handshake on
//! main's attach socket ([`crate::IpcMain::listen`]), which hands over the
//! segment and the lifeline.

use super::IpcRenderer;
use super::connect::{connect, map_memfd};
use crate::attach_point::AttachPoint;
use crate::error::{Error, Result};
use crate::os::invitation::is_segment_name;
use crate::os::segment::Mapping;
use crate::os::{fd, unix_socket};
use crate::wire::handshake::{Hello, Status, VERSION, WELCOME_LEN, Welcome};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// How long [`IpcRenderer::connect`] waits for main's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

impl IpcRenderer {
    /// Attaches to the main listening at `at` ([`crate::IpcMain::listen`]):
    /// a process main did not spawn becomes a renderer, with a receiver
    /// thread as [`from_env`](Self::from_env) starts one. Fails with
    /// [`Error::Refused`] if main's admission policy says no (or main is
    /// shutting down), [`Error::Timeout`] if main does not answer within
    /// 10 s, and [`Error::Io`] if nothing listens there.
    ///
    /// Unlike `from_env`, a process may attach several times (to several
    /// mains, or the same one again): each `IpcRenderer` is its own
    /// renderer, with its own [`crate::WebContents`] in main.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcRenderer::connect("/tmp/my-app.sock")?;
    /// assert_eq!(ipc.send_sync("ping", "")?, b"pong");
    /// # Ok(()) }
    /// ```
    pub fn connect(at: impl Into<AttachPoint>) -> Result<IpcRenderer> {
        attach(&at.into(), true)
    }

    /// [`connect`](Self::connect) for a host with its own event loop, as
    /// [`from_env_without_receiver`](Self::from_env_without_receiver).
    pub fn connect_without_receiver(at: impl Into<AttachPoint>) -> Result<IpcRenderer> {
        attach(&at.into(), false)
    }
}

fn attach(at: &AttachPoint, receiver_thread: bool) -> Result<IpcRenderer> {
    let socket = unix_socket::connect_within(&at.address(), ANSWER_WAIT)?;
    let hello = Hello { version: VERSION };
    unix_socket::send(socket.as_fd(), &hello.encode(), &[])?;
    // One byte more than a welcome, to tell a longer packet from one.
    let mut buf = [0u8; WELCOME_LEN + 1];
    let packet = match unix_socket::recv_within(socket.as_fd(), &mut buf, 2, ANSWER_WAIT) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Error::Timeout),
        // Main closed on us (busy, or shutting down) before our hello was read.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            return Err(Error::Refused("main closed the connection".into()));
        }
        Err(e) => return Err(Error::Io(e)),
    };
    if packet.len == 0 && packet.fds.is_empty() {
        return Err(Error::Refused("main closed the connection".into()));
    }
    let protocol = |why: &str| Error::Protocol(format!("attach: {why}"));
    if packet.truncated {
        return Err(protocol("main's answer is not a welcome"));
    }
    let welcome = Welcome::decode(&buf[..packet.len]).map_err(protocol)?;
    match welcome.status {
        Status::Admitted => {}
        Status::Refused => return Err(Error::Refused("main's admission policy said no".into())),
        Status::Busy => return Err(Error::Refused("main is busy or shutting down".into())),
        Status::BadHello => return Err(protocol("main did not understand our hello")),
    }
    let segment_len = usize::try_from(welcome.segment_len)
        .map_err(|_| protocol("a segment longer than this process can map"))?;
    let kind = |f: &OwnedFd| fd::kind(f.as_raw_fd());
    let mut fds = packet.fds.into_iter();
    let (mapping, lifeline) = match (welcome.segment_name.as_str(), fds.next(), fds.next()) {
        ("", Some(segment), Some(lifeline)) if fds.next().is_none() => {
            if kind(&segment)? != fd::Kind::Regular || kind(&lifeline)? != fd::Kind::Socket {
                return Err(protocol("the descriptors are not a segment and a socket"));
            }
            (map_memfd(segment, segment_len)?, lifeline)
        }
        (name, Some(lifeline), None) if is_segment_name(name) => {
            if kind(&lifeline)? != fd::Kind::Socket {
                return Err(protocol("the lifeline is not a socket"));
            }
            let mapping = Mapping::open_named(name, segment_len)
                .map_err(|e| Error::NotARenderer(format!("segment {name}: {e}")))?;
            (mapping, lifeline)
        }
        _ => return Err(protocol("a welcome with the wrong descriptors or name")),
    };
    let shared = connect(Arc::new(mapping), lifeline, receiver_thread)?;
    IpcRenderer::start(shared, receiver_thread)
}
