//! Callbacks on renderers coming and going: [`crate::IpcMain::on_connected`]
//! and [`crate::IpcMain::on_disconnected`].

use super::WebContents;
use crate::panics;
use parking_lot::RwLock;
use std::sync::Arc;

type Connected = dyn Fn(&WebContents) + Send + Sync;
type Disconnected = dyn Fn(&WebContents, &str) + Send + Sync;

/// The registered callbacks, shared by main and every connection.
#[derive(Default)]
pub(crate) struct Hooks {
    connected: RwLock<Vec<Arc<Connected>>>,
    disconnected: RwLock<Vec<Arc<Disconnected>>>,
}

impl Hooks {
    pub fn add_connected(&self, f: Arc<Connected>) {
        self.connected.write().push(f);
    }

    pub fn add_disconnected(&self, f: Arc<Disconnected>) {
        self.disconnected.write().push(f);
    }

    /// Lets go of every callback, once main has shut down and no renderer
    /// is left to report: what they capture is freed now, not when the last
    /// `WebContents` handle goes. Dropped outside the locks, so a callback's
    /// captures may call back into ringipc as they are freed.
    pub fn clear(&self) {
        let connected = std::mem::take(&mut *self.connected.write());
        let disconnected = std::mem::take(&mut *self.disconnected.write());
        drop((connected, disconnected));
    }

    pub fn connected(&self, renderer: &WebContents) {
        // Cloned out so a callback may register more without deadlocking.
        let hooks = self.connected.read().clone();
        for f in hooks {
            if panics::guarded(|| f(renderer)).is_err() {
                log::error!("an on_connected callback panicked");
            }
        }
    }

    pub fn disconnected(&self, renderer: &WebContents, reason: &str) {
        let hooks = self.disconnected.read().clone();
        for f in hooks {
            if panics::guarded(|| f(renderer, reason)).is_err() {
                log::error!("an on_disconnected callback panicked");
            }
        }
    }
}
