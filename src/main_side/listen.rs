//! [`IpcMain::listen`] and [`IpcMain::admit`]: renderers that main did not
//! spawn attach through a Unix socket (see `doors.rs` for the handshake).

use super::IpcMain;
use super::admission::Peer;
use super::door::Door;
use crate::attach_point::AttachPoint;
use crate::error::{Error, Result};
use crate::os::unix_socket;
use std::sync::Arc;

/// Pending connections the kernel keeps for the dispatcher.
const BACKLOG: i32 = 128;

impl IpcMain {
    /// Lets processes that main did not spawn become renderers: listens on a
    /// Unix socket at `at` (a path, mode `0600` by default, or an abstract
    /// name: [`AttachPoint`]), where [`crate::IpcRenderer::connect`]
    /// attaches. Each connecting process is judged by the admission policy
    /// ([`admit`](Self::admit); by default only main's own user gets in), then
    /// gets a sealed segment and a lifeline of its own over the socket, and is
    /// from then on a renderer like a spawned one: a [`crate::WebContents`],
    /// [`on_connected`](Self::on_connected), death detection, the same limits.
    ///
    /// The socket is served by the dispatcher (or the host's loop, through
    /// main's descriptor), never by a thread per client. A client that stalls
    /// or sends garbage is closed after [`Config::attach_timeout`] at most.
    /// A socket file left by a main that died is replaced; one a live main
    /// listens on is an error. Main removes the file when it shuts down.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcMain::new()?;
    /// ipc.on("ping", |event, _| { event.set_return_value("pong"); })?;
    /// ipc.listen("/tmp/my-app.sock")?;
    /// // elsewhere: ringipc::IpcRenderer::connect("/tmp/my-app.sock")?
    /// # Ok(()) }
    /// ```
    ///
    /// [`Config::attach_timeout`]: crate::Config::attach_timeout
    pub fn listen(&self, at: impl Into<AttachPoint>) -> Result<()> {
        let at = at.into();
        let shared = self.shared();
        if shared.is_stopping() {
            return Err(Error::Disconnected);
        }
        let (fd, id) = unix_socket::listen(&at.address(), at.file_mode(), BACKLOG)?;
        let file = at.file().map(|p| p.to_path_buf()).zip(id);
        shared.doors.lock().push(Door { fd, file });
        if shared.is_stopping() {
            // Main shut down meanwhile, and its dispatcher may have closed
            // its doors already: this one would stay open.
            for door in std::mem::take(&mut *shared.doors.lock()) {
                door.remove_file();
            }
            return Err(Error::Disconnected);
        }
        // The dispatcher takes it in its housekeeping.
        shared.control.waker().wake();
        Ok(())
    }

    /// Sets the admission policy for processes that attach through
    /// [`listen`](Self::listen)'s sockets: `policy(&peer)` returns whether
    /// the process (its pid, uid and gid, from the kernel) becomes a
    /// renderer. It runs on the dispatcher thread, so keep it short. The
    /// default admits processes of main's own effective user only.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcMain::new()?;
    /// let app_group = 1001;
    /// ipc.admit(move |peer| peer.gid == app_group);
    /// # Ok(()) }
    /// ```
    pub fn admit<F>(&self, policy: F)
    where
        F: Fn(&Peer) -> bool + Send + Sync + 'static,
    {
        *self.shared().admission.write() = Arc::new(policy);
    }
}
