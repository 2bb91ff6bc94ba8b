//! [`IpcMain::spawn`]: a new renderer's segment, lifeline and invitation,
//! and the connection main keeps for it.

use super::IpcMain;
use super::budget::Account;
use super::config::Config;
use super::incoming::Incoming;
use super::outbox::Outgoing;
use super::web_contents::{Connection, WebContents};
use crate::attach::{self, MainEnds, Wakes};
use crate::error::{Error, Result};
use crate::os::inherit;
use crate::os::invitation::{ENV_VAR, InheritedFd, Invitation};
use crate::os::segment::{self, Mapping};
use crate::os::{lifeline, pidfd};
use crate::wait::Wake;
use crate::wire::layout::{BellSlot, Layout};
use std::os::fd::{AsFd, OwnedFd};
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
        let shared = self.shared();
        if shared.is_stopping() {
            return Err(Error::Disconnected);
        }
        let cfg = &shared.config;
        let layout = Layout::new(cfg.request_capacity, cfg.reply_capacity)
            .expect("validated in IpcMain::with_config");
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let memfd = segment::create_memfd(layout.segment_len)?;
        let mapping = Arc::new(Mapping::map(memfd.as_fd(), layout.segment_len)?);
        let header = layout.header(
            cfg.wait_backend.to_wire(),
            id,
            std::process::id(),
            cfg.max_message_len,
        );
        attach::write_header(&mapping, header);
        let (main_end, child_end) = lifeline::pair()?;
        // Shared with the reply.data doorbell, which kicks the renderer's
        // receiver thread through it; closed (EOF for the renderer) once both
        // the dispatcher and the connection's outgoing half let go.
        let main_end = Arc::new(main_end);
        let MainEnds {
            requests,
            replies,
            bells,
        } = attach::attach(
            &mapping,
            &layout,
            main_wakes(&mapping, &layout, cfg, &main_end)?,
        );
        let child = start(command, &memfd, &child_end, layout.segment_len)?;
        drop((child_end, memfd));

        let account = Account::new(shared.memory.clone(), cfg.renderer_memory_limit);
        let limits = (cfg.outbox_limit, cfg.max_message_len as usize);
        let out = Outgoing::new(
            account.charge(),
            replies,
            bells.reply_data,
            bells.reply_calls,
            bells.reply_space,
            limits,
        );
        let main = (shared.control.waker(), shared.hooks.clone());
        let conn = Arc::new_cyclic(|this| {
            Connection::new((id, child.id()), (out, account), main, this.clone())
        });
        let web_contents = WebContents { conn };
        let renderer = Incoming {
            web_contents: web_contents.clone(),
            consumer: requests,
            data_bell: bells.request_data,
            space_bell: bells.request_space,
            lifeline: main_end,
            // Before the caller can reap the child: its pid is not reused.
            pidfd: pidfd::open(child.id()).ok(),
        };
        shared.renderers.lock().push(web_contents.clone());
        shared.hooks.connected(&web_contents);
        shared.control.add(renderer);
        if shared.is_stopping() {
            // Main shut down meanwhile, and its dispatcher may be gone: what
            // it has not adopted is dropped here, which closes the lifelines
            // (the renderers see EOF, not a silent main).
            for late in shared.control.take_pending() {
                late.web_contents.conn.disconnect("main shut down".into());
            }
            web_contents.conn.disconnect("main shut down".into());
        }
        Ok((web_contents, child))
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
    })
}

/// Starts the child with the segment and its end of the lifeline, and the
/// invitation that names them.
fn start(
    command: &mut Command,
    memfd: &OwnedFd,
    child_end: &OwnedFd,
    segment_len: usize,
) -> Result<Child> {
    let invitation = Invitation {
        segment: InheritedFd::of(memfd)?,
        lifeline: InheritedFd::of(child_end)?,
        segment_len,
        main_pid: std::process::id(),
    };
    command.env(ENV_VAR, invitation.encode());
    inherit::pass_on_exec(command, [invitation.segment, invitation.lifeline]);
    Ok(command.spawn()?)
}
