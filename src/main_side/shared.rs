//! [`MainShared`]: what every `IpcMain` handle, every connection and the
//! dispatcher share.

use super::admission::{self, AdmissionPolicy};
use super::budget::MemoryBudget;
use super::config::Config;
use super::control::Control;
use super::door::Door;
use super::lifecycle::Hooks;
use super::{ForwardingPolicy, MainHandler, MainListener, WebContents};
use crate::listeners::Listeners;
use crate::os::epoll::Epoll;
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

pub(crate) struct MainShared {
    pub config: Config,
    pub listeners: Listeners<MainListener>,
    /// At most one per channel.
    pub handlers: Listeners<MainHandler>,
    pub control: Control,
    /// Set once by `shutdown` (or the last handle's drop); see `is_stopping`.
    stopping: AtomicBool,
    pub next_id: AtomicU32,
    pub renderers: Mutex<Vec<WebContents>>,
    pub hooks: Arc<Hooks>,
    /// Everything the dispatcher waits on, in one descriptor a host can
    /// wait on too.
    pub epoll: Epoll,
    /// What main holds on renderers' behalf, all of them together.
    pub memory: Arc<MemoryBudget>,
    /// Which `send_to` messages to forward; none without a policy.
    pub forwarding: RwLock<Option<Arc<ForwardingPolicy>>>,
    /// Who may attach through `listen`'s sockets.
    pub admission: RwLock<Arc<AdmissionPolicy>>,
    /// Attach sockets `listen` made, for the dispatcher to take.
    pub doors: Mutex<Vec<Door>>,
}

impl MainShared {
    pub fn new(config: Config, control: Control, epoll: Epoll) -> MainShared {
        MainShared {
            epoll,
            memory: MemoryBudget::new(config.memory_limit),
            config,
            listeners: Listeners::default(),
            handlers: Listeners::default(),
            control,
            stopping: AtomicBool::new(false),
            next_id: AtomicU32::new(1),
            renderers: Mutex::new(Vec::new()),
            hooks: Arc::default(),
            forwarding: RwLock::default(),
            admission: RwLock::new(admission::same_user()),
            doors: Mutex::new(Vec::new()),
        }
    }

    /// Whether main began to shut down. A thread that saw it, then took the
    /// `Control` lock, orders everything after against the stop.
    pub fn is_stopping(&self) -> bool {
        // SYNC(stopping): Acquire ← Release in `begin_stop`.
        self.stopping.load(Ordering::Acquire)
    }

    /// Main shuts down: listeners never run again and spawns fail.
    pub fn begin_stop(&self) {
        // SYNC(stopping): Release → Acquire in `is_stopping`.
        self.stopping.store(true, Ordering::Release);
    }
}
