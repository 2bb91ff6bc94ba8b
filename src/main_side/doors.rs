//! The dispatcher's attach sockets ([`crate::IpcMain::listen`]) and the
//! handshakes in flight on them. Everything here runs on the dispatcher's
//! thread from its epoll set: no thread per client.
//!
//! A connecting process is hostile input until admitted: its credentials
//! come from the kernel, not from it; what it may send is one fixed-size
//! packet, read without waiting; it gets `Config::attach_timeout` to send
//! it, and at most [`MAX_KNOCKING`] handshakes are in flight at once. Then
//! it costs main nothing: its connection is closed.

use super::admission::{AdmissionPolicy, Peer};
use super::door::Door;
use super::shared::MainShared;
use super::spawn::prepare;
use crate::os::epoll::{self, Epoll};
use crate::os::unix_socket::{self, Credentials};
use crate::panics;
use crate::wire::handshake::{self, HELLO_LEN, Hello, Status, Welcome};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handshakes in flight at once; connections past that are refused as busy.
pub(crate) const MAX_KNOCKING: usize = 64;
/// Connections accepted per readiness of one socket, so a flood of them
/// takes its turn with the renderers.
const ACCEPTS_PER_EVENT: usize = 16;
/// How long a socket whose `accept` fails (out of descriptors, say) is left
/// alone: its pending connection would otherwise wake the dispatcher at
/// once, forever, with a log line each time.
const REST: Duration = Duration::from_millis(100);

/// Epoll tokens: a listening socket is `DOOR | index`, a handshake
/// `KNOCK | serial`; renderers' tokens stay below 2^33.
const DOOR: u64 = 1 << 62;
const KNOCK: u64 = 1 << 63;

struct Open {
    door: Door,
    token: u64,
    /// Not watched until then, after `accept` failed.
    resting_until: Option<Instant>,
}

struct Knock {
    fd: OwnedFd,
    peer: Peer,
    deadline: Instant,
    token: u64,
}

#[derive(Default)]
pub(crate) struct Doors {
    open: Vec<Open>,
    knocking: Vec<Knock>,
    next_serial: u64,
}

impl Doors {
    pub fn owns(token: u64) -> bool {
        token & (DOOR | KNOCK) != 0
    }

    /// Starts listening on `door` from the epoll set.
    pub fn add(&mut self, epoll: &Epoll, door: Door) {
        let token = DOOR | self.open.len() as u64;
        match epoll.add(door.fd.as_raw_fd(), epoll::READABLE, token) {
            Ok(()) => self.open.push(Open {
                door,
                token,
                resting_until: None,
            }),
            Err(e) => {
                log::error!("cannot watch an attach socket: {e}");
                door.remove_file();
            }
        }
    }

    /// Something is ready on `token`'s socket.
    pub fn ready(&mut self, token: u64, shared: &Arc<MainShared>, policy: &Arc<AdmissionPolicy>) {
        if token & KNOCK != 0 {
            self.hear(token, shared, policy);
        } else {
            self.accept((token & !DOOR) as usize, shared);
        }
    }

    /// Takes the connections waiting on socket `door` and waits for their
    /// hello (the policy decides once it came: a refusal sent before the
    /// hello is read could be lost to the connection's reset).
    fn accept(&mut self, door: usize, shared: &MainShared) {
        let Some(open) = self.open.get_mut(door) else {
            return;
        };
        let mut accepted = Vec::new();
        for _ in 0..ACCEPTS_PER_EVENT {
            match unix_socket::accept(&open.door.fd) {
                Ok(Some(fd)) => accepted.push(fd),
                Ok(None) => break,
                Err(e) => {
                    log::warn!("attach socket: accept failed ({e}); not listening for {REST:?}");
                    let fd = open.door.fd.as_raw_fd();
                    let _ = shared.epoll.modify(fd, 0, open.token);
                    open.resting_until = Some(Instant::now() + REST);
                    break;
                }
            }
        }
        for fd in accepted {
            if shared.is_stopping() || self.knocking.len() >= MAX_KNOCKING {
                refuse(&fd, Status::Busy);
                continue;
            }
            let Ok(Credentials { pid, uid, gid }) = unix_socket::peer_credentials(fd.as_fd())
            else {
                continue;
            };
            let peer = Peer { pid, uid, gid };
            self.next_serial += 1;
            let token = KNOCK | self.next_serial;
            if shared
                .epoll
                .add(fd.as_raw_fd(), epoll::READABLE, token)
                .is_err()
            {
                continue;
            }
            // `Duration::MAX` (no deadline) must not overflow: a far one.
            let deadline = Instant::now()
                .checked_add(shared.config.attach_timeout)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 30));
            self.knocking.push(Knock {
                fd,
                peer,
                deadline,
                token,
            });
        }
    }

    /// Reads a handshake's hello, once: admits the process if the policy
    /// does, or says why not; then closes the connection.
    fn hear(&mut self, token: u64, shared: &Arc<MainShared>, policy: &Arc<AdmissionPolicy>) {
        let Some(i) = self.knocking.iter().position(|k| k.token == token) else {
            return;
        };
        // One byte more than a hello, to tell a longer packet from one.
        let mut buf = [0u8; HELLO_LEN + 1];
        let packet = match unix_socket::try_recv(self.knocking[i].fd.as_fd(), &mut buf, 0) {
            Ok(None) => return,
            Ok(Some(p)) => Some(p),
            Err(_) => None,
        };
        let knock = self.knocking.swap_remove(i);
        shared.epoll.remove(knock.fd.as_raw_fd());
        let Some(packet) = packet else { return };
        if packet.len == 0 && !packet.truncated {
            return; // it hung up
        }
        if packet.truncated || Hello::decode(&buf[..packet.len]).is_err() {
            refuse(&knock.fd, Status::BadHello);
            return;
        }
        let peer = knock.peer;
        if !panics::guarded(|| policy(&peer)).unwrap_or(false) {
            log::debug!(
                "attach refused by policy: pid {} uid {} gid {}",
                peer.pid,
                peer.uid,
                peer.gid
            );
            refuse(&knock.fd, Status::Refused);
            return;
        }
        welcome(&knock, shared);
    }

    /// Closes handshakes whose time is up, and listens again on sockets
    /// whose rest is over.
    pub fn expire(&mut self, now: Instant, epoll: &Epoll) {
        for open in &mut self.open {
            if open.resting_until.is_some_and(|t| now >= t) {
                open.resting_until = None;
                let _ = epoll.modify(open.door.fd.as_raw_fd(), epoll::READABLE, open.token);
            }
        }
        self.knocking.retain(|k| {
            let keep = now < k.deadline;
            if !keep {
                epoll.remove(k.fd.as_raw_fd());
            }
            keep
        });
    }

    /// The soonest handshake deadline or end of a rest, for the
    /// dispatcher's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let rests = self.open.iter().filter_map(|o| o.resting_until);
        self.knocking.iter().map(|k| k.deadline).chain(rests).min()
    }

    /// Stops listening: closes every socket and removes the files.
    pub fn close(&mut self, epoll: &Epoll) {
        for k in self.knocking.drain(..) {
            epoll.remove(k.fd.as_raw_fd());
        }
        for Open { door, .. } in self.open.drain(..) {
            epoll.remove(door.fd.as_raw_fd());
            door.remove_file();
        }
    }
}

/// Admits the process behind `knock`: a segment and lifeline of its own,
/// sent with the welcome; from then on it is a renderer like any other.
fn welcome(knock: &Knock, shared: &Arc<MainShared>) {
    let prepared = match prepare(shared) {
        Ok(p) => p,
        Err(e) => {
            log::warn!("cannot make a segment for an attaching renderer: {e}");
            refuse(&knock.fd, Status::Busy);
            return;
        }
    };
    if !handshake::fits_name(prepared.segment_name().unwrap_or_default()) {
        refuse(&knock.fd, Status::Busy);
        return;
    }
    let answer = Welcome {
        status: Status::Admitted,
        segment_len: prepared.segment_len() as u64,
        main_pid: std::process::id(),
        renderer_id: prepared.id(),
        segment_name: prepared.segment_name().unwrap_or_default().to_owned(),
    };
    // The lifeline, after the segment when it goes by descriptor.
    let fds: Vec<_> = prepared
        .segment_fd()
        .into_iter()
        .chain([prepared.lifeline_fd()])
        .collect();
    // A fresh connection's buffer takes one small packet without waiting;
    // if not, the process is not admitted (dropping `prepared` undoes it).
    if unix_socket::send(knock.fd.as_fd(), &answer.encode(), &fds).is_ok() {
        prepared.started(knock.peer.pid);
    }
}

/// Tells the process why it is not admitted, if it listens; never waits.
fn refuse(fd: &OwnedFd, why: Status) {
    let _ = unix_socket::send(fd.as_fd(), &Welcome::refusal(why).encode(), &[]);
}
