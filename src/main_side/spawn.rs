//! Starting renderers: [`IpcMain::spawn`] for a `std::process::Command`, and
//! [`IpcMain::prepare_renderer`] for hosts that start the process themselves
//! (Node's `child_process`, a supervisor). Both make the renderer's segment,
//! lifeline and invitation, and the connection main keeps for it.

use super::IpcMain;
use super::budget::Account;
use super::config::Config;
use super::incoming::Incoming;
use super::outbox::Outgoing;
use super::shared::MainShared;
use super::web_contents::{Connection, WebContents};
use crate::attach::{self, MainEnds, Wakes};
use crate::call_line::LineServer;
use crate::error::{Error, Result};
use crate::os::inherit;
use crate::os::invitation::{ENV_VAR, InheritedFd, Invitation, SegmentRef};
use crate::os::segment::{self, Mapping, SegmentBackend, SegmentName};
use crate::os::{lifeline, pidfd};
use crate::ring::Consumer;
use crate::wait::{Doorbell, Wake};
use crate::wire::layout::{self, BellSlot, Layout};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl IpcMain {
    /// Starts `command` as a renderer: creates its shared segment and lifeline,
    /// hands both to the child, which connects with
    /// [`crate::IpcRenderer::from_env`]. Messages may be sent to the returned
    /// [`WebContents`] at once; they wait in the ring until the renderer reads.
    ///
    /// The caller owns the [`Child`] and should wait for it. Each call adds a
    /// `pre_exec` hook to `command`; reusing the command for another spawn is
    /// safe (stale hooks recognise that their descriptors are gone) but
    /// accumulates hooks.
    pub fn spawn(&self, command: &mut Command) -> Result<(WebContents, Child)> {
        let prepared = self.prepare_renderer()?;
        let lifeline = prepared.lifeline_fd();
        let segment = prepared.segment_fd().unwrap_or(lifeline);
        // A named segment has no descriptor: the lifeline stands in for it.
        let (name, value) = prepared.environment(segment.as_raw_fd(), lifeline.as_raw_fd())?;
        command.env(name, value);
        let passed = [InheritedFd::of(segment)?, InheritedFd::of(lifeline)?];
        inherit::pass_on_exec(command, passed);
        let child = command.spawn()?;
        Ok((prepared.started(child.id()), child))
    }

    /// Makes a renderer's segment and lifeline for a process the caller
    /// starts itself, for hosts whose own spawn must run the child (Node's
    /// `child_process.spawn`, a sandbox broker). The caller passes both
    /// descriptors to the child (under any numbers), sets the variable
    /// [`PreparedRenderer::environment`] returns for those numbers, starts it,
    /// and calls [`PreparedRenderer::started`] with its pid before reaping
    /// it. Dropping the `PreparedRenderer` instead abandons the renderer.
    ///
    /// ```no_run
    /// # fn main() -> ringipc::Result<()> {
    /// use std::os::fd::AsRawFd;
    /// let ipc = ringipc::IpcMain::new()?;
    /// let prepared = ipc.prepare_renderer()?;
    /// // A host that dups the two descriptors to 3 and 4 in its child:
    /// let (name, value) = prepared.environment(3, 4)?;
    /// # let pid = 0;
    /// // ... start the child with `name=value` and the descriptors ...
    /// let web_contents = prepared.started(pid);
    /// # Ok(()) }
    /// ```
    pub fn prepare_renderer(&self) -> Result<PreparedRenderer> {
        prepare(self.shared_arc())
    }
}

/// [`IpcMain::prepare_renderer`], also for renderers that attach through
/// the dispatcher.
pub(super) fn prepare(shared: &Arc<MainShared>) -> Result<PreparedRenderer> {
    if shared.is_stopping() {
        return Err(Error::Disconnected);
    }
    let cfg = &shared.config;
    let layout = Layout::new(cfg.request_capacity, cfg.reply_capacity)
        .expect("validated in IpcMain::with_config");
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (handover, mapping) = match cfg.segment_backend {
        SegmentBackend::Memfd => {
            let memfd = segment::create_memfd(layout.segment_len)?;
            let mapping = Mapping::map(memfd.as_fd(), layout.segment_len)?;
            (Handover::Memfd(memfd), mapping)
        }
        SegmentBackend::Named => {
            let (mapping, name) = Mapping::create_named(layout.segment_len)?;
            (Handover::Named(name), mapping)
        }
    };
    let mapping = Arc::new(mapping);
    let flags = match cfg.streaming_stores {
        true => 0,
        false => layout::NO_STREAMING_STORES,
    };
    let header = layout.header(
        cfg.wait_backend.to_wire(),
        id,
        std::process::id(),
        (cfg.max_message_len, flags),
    );
    attach::write_header(&mapping, header);
    let (main_end, child_end) = lifeline::pair()?;
    // Shared with the reply.data doorbell, which kicks the renderer's
    // receiver thread through it; closed (EOF for the renderer) once both
    // the dispatcher and the connection's outgoing half let go.
    let main_end = Arc::new(main_end);
    let mut ends: MainEnds = attach::attach(
        &mapping,
        &layout,
        main_wakes(&mapping, &layout, cfg, &main_end)?,
    );
    if !cfg.streaming_stores {
        ends.replies.never_stream();
    }
    Ok(PreparedRenderer {
        shared: shared.clone(),
        id,
        segment_len: layout.segment_len,
        handover,
        mapping,
        child_end,
        main_end,
        ends,
    })
}

/// A renderer whose segment and lifeline exist but whose process main has
/// not seen yet: what [`IpcMain::prepare_renderer`] returns.
pub struct PreparedRenderer {
    shared: Arc<MainShared>,
    id: u32,
    segment_len: usize,
    handover: Handover,
    mapping: Arc<Mapping>,
    child_end: OwnedFd,
    main_end: Arc<OwnedFd>,
    ends: MainEnds,
}

/// How the renderer gets its segment: the memfd, or the name it opens.
pub(super) enum Handover {
    Memfd(OwnedFd),
    Named(SegmentName),
}

impl PreparedRenderer {
    /// The renderer's shared segment, to pass to the child. Close-on-exec:
    /// the host makes its child's copy inheritable (as `dup2` onto a
    /// numbered descriptor does). `None` with
    /// [`SegmentBackend::Named`](crate::SegmentBackend::Named): the child
    /// opens the segment by the name in [`environment`](Self::environment).
    pub fn segment_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.handover {
            Handover::Memfd(memfd) => Some(memfd.as_fd()),
            Handover::Named(_) => None,
        }
    }

    /// The named segment's name (`SegmentBackend::Named` only).
    pub(super) fn segment_name(&self) -> Option<&str> {
        match &self.handover {
            Handover::Memfd(_) => None,
            Handover::Named(name) => Some(name.as_str()),
        }
    }

    /// The child's end of the lifeline, to pass to the child (close-on-exec,
    /// like [`segment_fd`](Self::segment_fd)).
    pub fn lifeline_fd(&self) -> BorrowedFd<'_> {
        self.child_end.as_fd()
    }

    /// The environment variable, `(name, value)`, that tells
    /// [`crate::IpcRenderer::from_env`] in the child which of its
    /// descriptors hold the segment and the lifeline: the numbers they will
    /// have in the child, which may differ from main's. (`segment_fd` is
    /// ignored for a named segment.)
    pub fn environment(
        &self,
        segment_fd: RawFd,
        lifeline_fd: RawFd,
    ) -> Result<(&'static str, String)> {
        let in_child = |fd, of: BorrowedFd<'_>| -> Result<InheritedFd> {
            let id = InheritedFd::of(of)?.id;
            Ok(InheritedFd { fd, id })
        };
        // 0 to 2 are the child's stdio; a memfd's number is its own.
        let bad = |fd: RawFd| fd < 3 || fd == lifeline_fd;
        let segment = match &self.handover {
            Handover::Memfd(memfd) if !bad(segment_fd) => {
                SegmentRef::Fd(in_child(segment_fd, memfd.as_fd())?)
            }
            Handover::Named(name) => SegmentRef::Name(name.as_str().to_owned()),
            Handover::Memfd(_) => return Err(bad_numbers()),
        };
        if lifeline_fd < 3 {
            return Err(bad_numbers());
        }
        let invitation = Invitation {
            segment,
            lifeline: in_child(lifeline_fd, self.child_end.as_fd())?,
            segment_len: self.segment_len,
            main_pid: std::process::id(),
        };
        Ok((ENV_VAR, invitation.encode()))
    }

    pub(super) fn segment_len(&self) -> usize {
        self.segment_len
    }

    /// Main's id for the renderer, the same its [`WebContents`] will have.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The child `pid` was started with both descriptors: closes main's
    /// copies of the child's ends, hands the renderer to the dispatcher and
    /// returns its [`WebContents`]. Call it before reaping the child: main
    /// watches the pid (through a pidfd) for the renderer's death. If main
    /// shut down meanwhile, the renderer is returned disconnected.
    pub fn started(self, pid: u32) -> WebContents {
        let PreparedRenderer {
            shared,
            id,
            handover,
            mapping,
            child_end,
            main_end,
            ends,
            ..
        } = self;
        drop(child_end);
        // A name lives until the renderer opened it (its first kick).
        let name = match handover {
            Handover::Memfd(_) => None,
            Handover::Named(name) => Some(name),
        };
        let MainEnds {
            requests,
            replies,
            line,
            bells,
        } = ends;
        let cfg = &shared.config;
        let account = Account::new(shared.memory.clone(), cfg.renderer_memory_limit);
        let limits = (cfg.outbox_limit, cfg.max_message_len as usize);
        let out = Outgoing::new(
            account.charge(),
            replies,
            (bells.reply_data, bells.reply_calls, bells.reply_space),
            (line.clone(), bells.call),
            limits,
        );
        let main = (shared.control.waker().clone(), shared.hooks.clone());
        let conn =
            Arc::new_cyclic(|this| Connection::new((id, pid), (out, account), main, this.clone()));
        let web_contents = WebContents { conn };
        adopt(
            &shared,
            &web_contents,
            (
                requests,
                LineServer::new(line),
                bells.request_data,
                bells.request_space,
            ),
            (main_end, mapping, name),
        );
        web_contents
    }
}

fn bad_numbers() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "the segment and lifeline need two distinct descriptor numbers above stdio",
    ))
}

impl std::fmt::Debug for PreparedRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRenderer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Hands a started renderer to the dispatcher, or disconnects it at once if
/// main is shutting down.
fn adopt(
    shared: &MainShared,
    web_contents: &WebContents,
    (consumer, line, data_bell, space_bell): (Consumer, LineServer, Doorbell, Doorbell),
    (lifeline, segment, name): (Arc<OwnedFd>, Arc<Mapping>, Option<SegmentName>),
) {
    let renderer = Incoming {
        web_contents: web_contents.clone(),
        consumer,
        line,
        line_waiting: None,
        data_bell,
        space_bell,
        lifeline,
        segment,
        name,
        // The caller has not reaped the child yet: its pid is not reused.
        pidfd: pidfd::open(web_contents.process_id()).ok(),
    };
    shared.renderers.lock().push(web_contents.clone());
    shared.hooks.connected(web_contents);
    shared.control.add(renderer);
    if shared.is_stopping() {
        // Main shut down meanwhile, and its dispatcher may be gone: what it
        // has not adopted is dropped here, which closes the lifelines (the
        // renderers see EOF, not a silent main).
        for late in shared.control.take_pending() {
            late.web_contents.conn.disconnect("main shut down".into());
        }
        web_contents.conn.disconnect("main shut down".into());
    }
}

/// How main wakes each doorbell of a new segment: renderer threads sleep on
/// a futex (or a `raw_sync` event main creates here); the receiver thread in
/// `poll` on its lifeline, which main kicks. Main never sleeps on the
/// segment itself: its two doorbells there are flags only.
fn main_wakes(
    mapping: &Mapping,
    layout: &Layout,
    cfg: &Config,
    lifeline: &Arc<OwnedFd>,
) -> Result<Wakes> {
    let sleeper = |slot| attach::sleeper_wake(mapping, layout, slot, cfg.wait_backend, true);
    Ok(Wakes {
        request_data: Wake::FUTEX_ONE,
        request_space: sleeper(BellSlot::RequestSpace)?,
        reply_data: Wake::Kick(lifeline.clone()),
        reply_calls: sleeper(BellSlot::ReplyCalls)?,
        reply_space: Wake::FUTEX_ONE,
        // One renderer thread at a time waits on the call line.
        call: Wake::FUTEX_ONE,
    })
}
