//! The attach socket: an `AF_UNIX` `SOCK_SEQPACKET` socket on which main
//! listens and renderers that main did not spawn connect. Packets keep their
//! boundaries, so a handshake message is read whole or not at all; the
//! descriptors travel as `SCM_RIGHTS`; `SO_PEERCRED` names the peer.

use super::poll;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where a socket lives: a path in the filesystem, or a name in Linux's
/// abstract namespace (no file, gone with the last descriptor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address<'a> {
    Path(&'a Path),
    Abstract(&'a [u8]),
}

/// The process at the other end of a connection, as the kernel saw it at
/// `connect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `sockaddr_un` for `at`, and the length to pass with it.
fn sockaddr(at: &Address<'_>) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (bytes, lead): (&[u8], usize) = match at {
        Address::Path(p) => (p.as_os_str().as_bytes(), 0),
        // The abstract namespace: a leading NUL, then the name.
        Address::Abstract(name) => (name, 1),
    };
    // A path needs its terminating NUL; an abstract name is its length.
    let room = addr.sun_path.len() - lead - usize::from(lead == 0);
    if bytes.is_empty() || bytes.len() > room || (lead == 0 && bytes.contains(&0)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a socket address of 1 to {room} bytes (no NUL in a path)"),
        ));
    }
    for (dst, &src) in addr.sun_path[lead..].iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let base = size_of::<libc::sa_family_t>();
    let len = base + lead + bytes.len() + usize::from(lead == 0);
    Ok((addr, len as libc::socklen_t))
}

/// A listening socket at `at`, and for a path the `(dev, ino)` of the
/// socket file it made, so that main removes only that file later. A path
/// gets `mode` (set on the socket before `bind`, which Linux gives the new
/// file, and again after). A socket file left by a main that died is
/// replaced; a live one is `AddrInUse`; any other file is left alone.
pub(crate) fn listen(
    at: &Address<'_>,
    mode: u32,
    backlog: i32,
) -> io::Result<(OwnedFd, Option<(u64, u64)>)> {
    let fd = socket()?;
    let (addr, len) = sockaddr(at)?;
    // SAFETY: fchmod on our socket.
    unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) };
    let bind = |fd: &OwnedFd| {
        // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
        let r = unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    match (bind(&fd), at) {
        (Ok(()), _) => {}
        (Err(e), Address::Path(path)) if e.kind() == io::ErrorKind::AddrInUse => {
            if !is_stale(at) {
                return Err(e);
            }
            std::fs::remove_file(path)?;
            bind(&fd)?;
        }
        (Err(e), _) => return Err(e),
    }
    let Address::Path(path) = at else {
        return finish_listen(fd, backlog).map(|fd| (fd, None));
    };
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let made = std::fs::symlink_metadata(path)?;
    let file = (made.dev(), made.ino());
    // From here on, a failure removes the file this call made.
    let undo = |e: io::Error| {
        unlink_if(path, file);
        e
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(undo)?;
    let fd = finish_listen(fd, backlog).map_err(undo)?;
    Ok((fd, Some(file)))
}

fn finish_listen(fd: OwnedFd, backlog: i32) -> io::Result<OwnedFd> {
    // SAFETY: listen(2) on our socket.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Whether `at` is a socket file with nobody listening behind it (and
/// not some other file that happens to have the name).
fn is_stale(at: &Address<'_>) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let Address::Path(path) = at else {
        return false;
    };
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    is_socket
        && match connect(at) {
            Err(e) => e.raw_os_error() == Some(libc::ECONNREFUSED),
            Ok(_) => false,
        }
}

/// Removes the socket file at `path` if it is still the one `(dev, ino)`
/// names (another main may have replaced it meanwhile).
pub(crate) fn unlink_if(path: &Path, file: (u64, u64)) {
    use std::os::unix::fs::MetadataExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == file) {
        let _ = std::fs::remove_file(path);
    }
}

/// Connects to the socket at `at` (non-blocking, close-on-exec).
pub(crate) fn connect(at: &Address<'_>) -> io::Result<OwnedFd> {
    let fd = socket()?;
    let (addr, len) = sockaddr(at)?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    let r = unsafe { libc::connect(fd.as_raw_fd(), (&raw const addr).cast(), len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// [`connect`], retrying while the listener's backlog is full (a
/// non-blocking connect says `WouldBlock` then) for up to `patience`.
pub(crate) fn connect_within(at: &Address<'_>, patience: Duration) -> io::Result<OwnedFd> {
    let deadline = Instant::now() + patience;
    loop {
        match connect(at) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// The next waiting connection, if any (non-blocking, close-on-exec).
pub(crate) fn accept(listener: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    // SAFETY: accept4 without an address out-parameter.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    };
    if fd >= 0 {
        // SAFETY: a fresh descriptor nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) => Ok(None),
        // The peer gave up between connect and accept: try the next one.
        Some(libc::ECONNABORTED | libc::EINTR) => Ok(None),
        _ => Err(e),
    }
}

/// `SO_PEERCRED` of a connected socket.
pub(crate) fn peer_credentials(fd: BorrowedFd<'_>) -> io::Result<Credentials> {
    // SAFETY: all-zero is a valid ucred.
    let mut cred: libc::ucred = unsafe { zeroed() };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a writable ucred and `len` its size.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Credentials {
        pid: cred.pid as u32,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// Sends one packet, with `fds` as `SCM_RIGHTS` when there are any. Never
/// blocks: a packet that does not fit now is `WouldBlock`.
pub(crate) fn send(fd: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let payload = std::mem::size_of_val(raw.as_slice()) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: all-zero is a valid msghdr; the pointers set below outlive it.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !raw.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer holds CMSG_SPACE(payload) bytes, so the
        // first header exists.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        // SAFETY: all-zero is a valid cmsghdr.
        let mut header: libc::cmsghdr = unsafe { zeroed() };
        header.cmsg_level = libc::SOL_SOCKET;
        header.cmsg_type = libc::SCM_RIGHTS;
        // SAFETY: CMSG_LEN only computes a size.
        header.cmsg_len = unsafe { libc::CMSG_LEN(payload) } as _;
        // SAFETY: `cmsg` points at the first header's room in `control`.
        unsafe { cmsg.write_unaligned(header) };
        // SAFETY: CMSG_DATA has room for `payload` bytes (CMSG_LEN above).
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        // SAFETY: copies `payload` bytes from `raw` into that room.
        unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr().cast::<u8>(), data, payload as usize) };
    }
    // SAFETY: `msg` and everything it points to are valid for the call.
    let n = unsafe {
        libc::sendmsg(
            fd.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "packet cut short"));
    }
    Ok(())
}

/// A received packet: its length (longer than the buffer is `truncated`),
/// and the descriptors it carried, owned (close-on-exec).
pub(crate) struct Packet {
    pub len: usize,
    pub truncated: bool,
    pub fds: Vec<OwnedFd>,
}

/// Receives one packet into `buf` without waiting (`Ok(None)`: nothing
/// yet), taking up to `max_fds` descriptors; any beyond that are closed by
/// the kernel and reported as `truncated`. `len` 0 with no descriptors is
/// the peer's end of stream.
pub(crate) fn try_recv(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<Option<Packet>> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let payload = (max_fds * size_of::<RawFd>()) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: all-zero is a valid msghdr; the pointers set below outlive it.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if max_fds > 0 {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
    }
    // SAFETY: `msg` and everything it points to are valid for the call.
    let n = unsafe {
        libc::recvmsg(
            fd.as_raw_fd(),
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let mut fds = Vec::new();
    if max_fds > 0 {
        // SAFETY: `msg` was filled by recvmsg; the walk stays inside the
        // control buffer the kernel reported (msg_controllen).
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: a header inside the control buffer.
            let header = unsafe { std::ptr::read_unaligned(cmsg) };
            if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
                // SAFETY: CMSG_LEN(0) only computes a size.
                let data_len = header.cmsg_len as usize - unsafe { libc::CMSG_LEN(0) } as usize;
                // SAFETY: the data of this header, inside the control buffer.
                let data = unsafe { libc::CMSG_DATA(cmsg) };
                for i in 0..data_len / size_of::<RawFd>() {
                    // SAFETY: the i-th descriptor's place, inside the data.
                    let at = unsafe { data.cast::<RawFd>().add(i) };
                    // SAFETY: reads it (the buffer need not be aligned for it).
                    let raw = unsafe { at.read_unaligned() };
                    // SAFETY: SCM_RIGHTS installed a fresh descriptor for us.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
            // SAFETY: the next header, or NULL past the reported length.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
    }
    let truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    Ok(Some(Packet {
        len: (n as usize).min(buf.len()),
        truncated,
        fds,
    }))
}

/// [`try_recv`] that waits up to `timeout` for a packet: `TimedOut` after.
pub(crate) fn recv_within(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    timeout: Duration,
) -> io::Result<Packet> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(packet) = try_recv(fd, buf, max_fds)? {
            return Ok(packet);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        let mut fds = [poll::entry(fd.as_raw_fd(), libc::POLLIN)];
        poll::poll(&mut fds, Some(left));
    }
}

/// This process's effective user id.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
