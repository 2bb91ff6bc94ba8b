//! Who may attach: [`Peer`], what the kernel says about a connecting
//! process, and the policy that decides on it.

use std::sync::Arc;

/// A process connecting to main's attach socket, as the kernel saw it when
/// it connected (`SO_PEERCRED`): what an admission policy
/// ([`crate::IpcMain::admit`]) decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// Its process id (0 if it lives in another pid namespace).
    pub pid: u32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// Decides whether a connecting process becomes a renderer.
pub(crate) type AdmissionPolicy = dyn Fn(&Peer) -> bool + Send + Sync;

/// The default: processes of main's own user only.
pub(crate) fn same_user() -> Arc<AdmissionPolicy> {
    let me = crate::os::unix_socket::effective_uid();
    Arc::new(move |peer: &Peer| peer.uid == me)
}
