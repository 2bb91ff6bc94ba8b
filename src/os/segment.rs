//! Shared memory segments: creating a sealed `memfd` and mapping it.
//!
//! A spawned renderer inherits the memfd by descriptor, so the segment never has
//! a name: nothing can be left in `/dev/shm`, whatever crashes when. The seals
//! (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`) mean a renderer cannot
//! `ftruncate` the file under main's mapping, which would raise SIGBUS in main.
//!
//! Seam: a named POSIX segment (`shm_open`, as the `shared_memory` crate does) for
//! renderers that are not children of main would produce the same [`Mapping`];
//! it is not implemented because it cannot be sealed (see ARCHITECTURE.md).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A `MAP_SHARED` read-write mapping, unmapped on drop.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; all concurrent access to it goes through
// atomics or the ring protocol, never through references to non-atomic data.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `fd`.
    pub fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel; it aliases nothing of ours.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Address of a `T` at `offset`, which the caller has computed from a
    /// validated layout.
    pub fn at<T>(&self, offset: usize) -> *mut T {
        let p = self.range(offset, size_of::<T>());
        debug_assert_eq!(p as usize % align_of::<T>(), 0);
        p.cast()
    }

    /// Address of `offset .. offset + len`, asserting it lies in the mapping.
    pub fn range(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "{offset}+{len} outside mapping"
        );
        // SAFETY: in bounds of the mapping, checked just above.
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own the mapping; every user holds an `Arc<Mapping>` or is
        // otherwise outlived by it, so nothing touches it after this.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Creates an anonymous, `0600`, sealed-size memory file of `len` zero bytes.
pub(crate) fn create_memfd(len: usize) -> io::Result<OwnedFd> {
    let name = c"ringipc";
    // SAFETY: `name` is a valid C string.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    let check = |r: libc::c_int| {
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain syscalls on a descriptor we own.
    check(unsafe { libc::fchmod(raw, 0o600) })?;
    let len_off = libc::off_t::try_from(len).map_err(|_| io::Error::other("segment too large"))?;
    // SAFETY: as above.
    check(unsafe { libc::ftruncate(raw, len_off) })?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(raw, libc::F_ADD_SEALS, seals) })?;
    Ok(fd)
}

/// Size in bytes of the file behind `fd`.
pub(crate) fn file_len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(crate::os::fd::stat(fd.as_raw_fd())?.st_size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn memfd_is_sealed_against_resizing() {
        let fd = create_memfd(8192).unwrap();
        assert_eq!(file_len(fd.as_fd()).unwrap(), 8192);
        // SAFETY: plain syscalls on a descriptor we own.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 0) }, -1);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 1 << 20) }, -1);
        let m = Mapping::map(fd.as_fd(), 8192).unwrap();
        assert_eq!(m.len(), 8192);
        let st = crate::os::fd::stat(fd.as_raw_fd()).unwrap();
        assert_eq!(st.st_mode & 0o777, 0o600);
    }
}
