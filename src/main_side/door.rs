//! [`Door`]: an attach socket on its way from `IpcMain::listen` to the
//! dispatcher, which serves it (`doors.rs`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A listening socket handed to the dispatcher, and the file to remove when
/// main stops.
pub(crate) struct Door {
    pub fd: OwnedFd,
    /// The socket file and its `(dev, ino)`: removed only if still it.
    pub file: Option<(PathBuf, (u64, u64))>,
}

impl Door {
    /// Removes the socket file, if it is still the one main made.
    pub fn remove_file(&self) {
        if let Some((path, id)) = &self.file {
            crate::os::unix_socket::unlink_if(path, *id);
        }
    }
}
