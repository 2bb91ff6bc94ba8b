//! [`Door`]: an attach socket on its way from `IpcMain::listen` to the
//! dispatcher, which serves it (`doors.rs`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A listening socket handed to the dispatcher, and the file to remove when
/// main stops.
pub(crate) struct Door {
    pub fd: OwnedFd,
    pub file: Option<PathBuf>,
}
