//! Connecting a renderer: the invitation [`IpcMain::spawn`] left in the
//! environment, its descriptors, the segment, and the receiver thread.
//!
//! [`IpcMain::spawn`]: crate::IpcMain::spawn

use super::IpcRenderer;
use super::drain_turn::DrainTurn;
use super::receiver::start_receiver;
use super::replies::Replies;
use super::shared::OnLine;
use super::shared::{MAX_CALL_SPIN, MAX_RECEIVER_SPIN, MIN_SPIN, Pumped, Requests, Shared};
use crate::attach::{self, RendererEnds, Wakes};
use crate::call_line::LineCaller;
use crate::error::{Error, Result};
use crate::listeners::Listeners;
use crate::os::epoll::{self, Epoll};
use crate::os::invitation::{ENV_VAR, Invitation, SegmentRef};
use crate::os::segment::{self, Mapping};
use crate::os::{inherit, lifeline};
use crate::wait::spin::AdaptiveSpin;
use crate::wait::{WaitBackend, Wake};
use crate::wire::layout::{self, BellSlot, Layout};
use parking_lot::Mutex;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Only one `IpcRenderer` per process: the invitation's descriptors are taken once.
static CONNECTED: AtomicBool = AtomicBool::new(false);

impl IpcRenderer {
    /// Connects to main using the invitation that [`crate::IpcMain::spawn`]
    /// left in this process's environment.
    ///
    /// Fails with [`Error::NotARenderer`] if there is none, if it was meant for
    /// another process (this one's parent is not the main that wrote it), or if
    /// it was already used.
    pub fn from_env() -> Result<IpcRenderer> {
        Self::connect_from_env(true)
    }

    /// [`from_env`](Self::from_env) for a host with its own event loop: no
    /// receiver thread is started, listeners registered with
    /// [`on`](Self::on) are not called, and the host takes messages from main
    /// with [`recv`](Self::recv), [`try_recv`](Self::try_recv) or
    /// [`recv_timeout`](Self::recv_timeout). Calls and sends work as usual.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// let ipc = ringipc::IpcRenderer::from_env_without_receiver()?;
    /// loop {
    ///     // ... the host's own work ...
    ///     while let Some(message) = ipc.try_recv()? {
    ///         println!("{}: {} bytes", message.channel, message.payload.len());
    ///     }
    /// #   break;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn from_env_without_receiver() -> Result<IpcRenderer> {
        Self::connect_from_env(false)
    }

    fn connect_from_env(receiver_thread: bool) -> Result<IpcRenderer> {
        let value = std::env::var(ENV_VAR).map_err(|_| {
            Error::NotARenderer(format!(
                "{ENV_VAR} is not set: this process was not started by IpcMain::spawn"
            ))
        })?;
        let inv = Invitation::decode(&value).map_err(Error::NotARenderer)?;
        let parent = inherit::parent_pid();
        if parent != inv.main_pid {
            return Err(Error::NotARenderer(format!(
                "the invitation is for a child of pid {}, but this process's parent is {parent}",
                inv.main_pid
            )));
        }
        if CONNECTED.swap(true, Ordering::Relaxed) {
            return Err(Error::NotARenderer(
                "this process is already connected".into(),
            ));
        }
        // Until ownership of the descriptors is taken, failing leaves the
        // invitation usable; after, it is spent even if connecting fails.
        let unclaimed = |_: &Error| CONNECTED.store(false, Ordering::Relaxed);
        let (mapping, lifeline) = match &inv.segment {
            SegmentRef::Fd(segment) => {
                let [memfd, lifeline] =
                    inherit::claim([*segment, inv.lifeline]).inspect_err(unclaimed)?;
                (map_memfd(memfd, inv.segment_len)?, lifeline)
            }
            SegmentRef::Name(name) => {
                let [lifeline] = inherit::claim([inv.lifeline]).inspect_err(unclaimed)?;
                let mapping = Mapping::open_named(name, inv.segment_len)
                    .map_err(|e| Error::NotARenderer(format!("segment {name}: {e}")))?;
                (mapping, lifeline)
            }
        };
        let shared = connect(Arc::new(mapping), lifeline, receiver_thread)?;
        IpcRenderer::start(shared, receiver_thread)
    }

    /// A connected renderer, with its receiver thread if asked for.
    pub(super) fn start(shared: Shared, receiver_thread: bool) -> Result<IpcRenderer> {
        let shared = Arc::new(shared);
        let receiver = match receiver_thread {
            true => Some(start_receiver(&shared)?),
            false => None,
        };
        Ok(IpcRenderer { shared, receiver })
    }
}

/// Maps `segment_len` bytes of the memfd main passed, after checking that
/// the file holds them.
pub(super) fn map_memfd(memfd: OwnedFd, segment_len: usize) -> Result<Mapping> {
    let not = |what: &str, e: std::io::Error| Error::NotARenderer(format!("{what}: {e}"));
    let file_len = segment::file_len(memfd.as_fd()).map_err(|e| not("segment", e))?;
    if file_len < segment_len as u64 {
        return Err(Error::NotARenderer(format!(
            "segment is {file_len} bytes, expected {segment_len}"
        )));
    }
    Mapping::map(memfd.as_fd(), segment_len).map_err(|e| not("mapping the segment", e))
}

/// Checks the header of the segment main passed, and attaches to it.
pub(super) fn connect(
    mapping: Arc<Mapping>,
    lifeline: OwnedFd,
    receiver_thread: bool,
) -> Result<Shared> {
    crate::wait::spin::prepare();
    let header = attach::read_header(&mapping);
    let layout = Layout::from_header(&header, mapping.len()).map_err(Error::NotARenderer)?;
    let backend = WaitBackend::from_wire(header.wait_backend).ok_or_else(|| {
        Error::NotARenderer(format!("unknown wait backend {}", header.wait_backend))
    })?;
    let lifeline = Arc::new(lifeline);
    // Tells main we claimed the invitation (it cuts off a spawned process
    // that never does).
    lifeline::kick(lifeline.as_raw_fd());
    let (local_sleep, local_wake) = lifeline::pair()?;
    let local_sleep = Arc::new(local_sleep);
    let epoll = Epoll::new()?;
    epoll.add(lifeline.as_raw_fd(), epoll::READABLE, 0)?;
    epoll.add(local_sleep.as_raw_fd(), epoll::READABLE, 1)?;
    let wakes = renderer_wakes(
        &mapping,
        &layout,
        backend,
        &lifeline,
        (&local_sleep, local_wake),
    )?;
    let RendererEnds {
        mut requests,
        replies,
        line,
        bells,
    } = attach::attach(&mapping, &layout, wakes);
    if header.flags & layout::NO_STREAMING_STORES != 0 {
        requests.never_stream();
    }
    let line =
        (backend == WaitBackend::Futex).then(|| OnLine::new(LineCaller::new(line), bells.call));
    let reply_hint = replies.hint();
    let turn = Arc::new(DrainTurn::default());
    let max_message = header.max_message_len as usize;
    Ok(Shared {
        id: header.renderer_id,
        max_message,
        requests: Mutex::new(Requests {
            producer: requests,
            unchecked: (!receiver_thread).then_some(0),
        }),
        request_data: bells.request_data,
        request_space: bells.request_space,
        replies: std::sync::Mutex::new(Replies::new(replies, turn.clone(), max_message)),
        reply_data: bells.reply_data,
        reply_calls: bells.reply_calls,
        reply_space: bells.reply_space,
        reply_hint,
        line,
        pushed_to: AtomicU64::new(0),
        call_spin: AdaptiveSpin::new(MIN_SPIN, MAX_CALL_SPIN),
        woke_main_spin: AdaptiveSpin::after_a_wake(MAX_CALL_SPIN),
        space_spin: AdaptiveSpin::new(MIN_SPIN, MAX_CALL_SPIN),
        receiver_spin: AdaptiveSpin::new(MIN_SPIN, MAX_RECEIVER_SPIN),
        turn,
        closed: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        next_call: AtomicU64::new(1),
        listeners: Listeners::default(),
        handlers: Listeners::default(),
        pumped: Mutex::new(Pumped::default()),
        epoll,
        local_sleep,
        unhandled: AtomicU64::new(0),
        lifeline,
    })
}

/// How the renderer wakes each doorbell: main by a kick on the lifeline
/// (it sleeps in `poll` on all of them); its own threads by a futex (or the
/// `raw_sync` event main created); its receiver thread by a kick on a local
/// socket it polls beside the lifeline, where main kicks it too.
fn renderer_wakes(
    mapping: &Mapping,
    layout: &Layout,
    backend: WaitBackend,
    lifeline: &Arc<OwnedFd>,
    (local_sleep, local_wake): (&Arc<OwnedFd>, OwnedFd),
) -> Result<Wakes> {
    let sleeper = |slot| attach::sleeper_wake(mapping, layout, slot, backend, false);
    Ok(Wakes {
        request_data: Wake::Kick(lifeline.clone()),
        request_space: sleeper(BellSlot::RequestSpace)?,
        reply_data: Wake::PollSockets {
            kick: Arc::new(local_wake),
            sleep_on: [lifeline.clone(), local_sleep.clone()],
        },
        reply_calls: sleeper(BellSlot::ReplyCalls)?,
        reply_space: Wake::Kick(lifeline.clone()),
        // Only main rings it.
        call: Wake::FUTEX_ALL,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::layout::NO_STREAMING_STORES;

    /// Main's `Config::streaming_stores(false)` reaches the renderer's
    /// producer through the segment header's flag.
    #[test]
    fn the_header_s_flag_turns_streaming_stores_off() {
        for (flags, streams) in [(0, true), (NO_STREAMING_STORES, false)] {
            let layout = Layout::new(256 << 10, 256 << 10).unwrap();
            let memfd = segment::create_memfd(layout.segment_len).unwrap();
            let mapping = Mapping::map(memfd.as_fd(), layout.segment_len).unwrap();
            let backend = WaitBackend::Futex.to_wire();
            let header = layout.header(backend, 1, std::process::id(), (1 << 20, flags));
            attach::write_header(&mapping, header);
            // Main's end stays open while the renderer connects.
            let (_main_end, renderer_end) = lifeline::pair().unwrap();
            let shared = connect(Arc::new(mapping), renderer_end, false).unwrap();
            assert_eq!(shared.requests.lock().producer.streams_big(), streams);
        }
    }
}
