//! [`AttachPoint`]: where main listens for renderers it did not spawn, and
//! where they connect.

use crate::os::unix_socket::Address;
use std::path::{Path, PathBuf};

/// A Unix socket address for [`crate::IpcMain::listen`] and
/// [`crate::IpcRenderer::connect`]: a path in the filesystem (the socket
/// file gets mode `0600` unless told otherwise; main removes it when it
/// shuts down), or a name in Linux's abstract namespace (no file; reachable
/// by anyone in the network namespace, so the admission policy is what
/// guards it).
///
/// Paths convert: `ipc.listen("/run/app/ipc.sock")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachPoint {
    place: Place,
    mode: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl AttachPoint {
    /// A socket file at `path`, mode `0600`.
    pub fn path(path: impl Into<PathBuf>) -> AttachPoint {
        AttachPoint {
            place: Place::Path(path.into()),
            mode: 0o600,
        }
    }

    /// A name in the abstract namespace (1 to 107 bytes; no file).
    pub fn abstract_name(name: impl AsRef<[u8]>) -> AttachPoint {
        AttachPoint {
            place: Place::Abstract(name.as_ref().to_vec()),
            mode: 0,
        }
    }

    /// The socket file's permission bits (paths only; ignored for abstract
    /// names). Who may connect is what the filesystem allows; who is
    /// admitted is the policy's.
    pub fn mode(mut self, mode: u32) -> AttachPoint {
        self.mode = mode;
        self
    }

    pub(crate) fn address(&self) -> Address<'_> {
        match &self.place {
            Place::Path(p) => Address::Path(p),
            Place::Abstract(name) => Address::Abstract(name),
        }
    }

    pub(crate) fn file_mode(&self) -> u32 {
        self.mode
    }

    /// The socket file, if this is a path.
    pub(crate) fn file(&self) -> Option<&Path> {
        match &self.place {
            Place::Path(p) => Some(p),
            Place::Abstract(_) => None,
        }
    }
}

impl From<&Path> for AttachPoint {
    fn from(path: &Path) -> AttachPoint {
        AttachPoint::path(path)
    }
}

impl From<PathBuf> for AttachPoint {
    fn from(path: PathBuf) -> AttachPoint {
        AttachPoint::path(path)
    }
}

impl From<&str> for AttachPoint {
    fn from(path: &str) -> AttachPoint {
        AttachPoint::path(path)
    }
}

impl From<String> for AttachPoint {
    fn from(path: String) -> AttachPoint {
        AttachPoint::path(path)
    }
}

impl From<&AttachPoint> for AttachPoint {
    fn from(at: &AttachPoint) -> AttachPoint {
        at.clone()
    }
}
