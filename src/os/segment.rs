//! Shared memory segments: a sealed `memfd` (the default), or a named POSIX
//! segment (the `shared_memory` crate), and mapping them.
//!
//! A spawned or attached renderer gets the memfd by descriptor, so the
//! segment never has a name: nothing can be left in `/dev/shm`, whatever
//! crashes when. The seals (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`) mean
//! a renderer cannot `ftruncate` the file under main's mapping, which would
//! raise SIGBUS in main.
//!
//! A named segment is for peers that can only open by name and systems
//! without memfd. It cannot be sealed: main guards its mapping of one
//! (`sigbus.rs`), so a renderer that truncates it is cut off instead of
//! crashing main, and unlinks the name as soon as the renderer has opened it.

use super::sigbus;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// Where main puts each renderer's segment ([`crate::Config::segment_backend`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SegmentBackend {
    /// An anonymous `memfd`, sealed against resizing, passed by descriptor.
    /// Nothing a renderer does to it can hurt main. The default.
    #[default]
    Memfd,
    /// A named POSIX segment (`/dev/shm`, through the `shared_memory`
    /// crate), which the renderer opens by name: for peers that can only
    /// open by name, and systems without memfd. A renderer can truncate it;
    /// main survives that (it reads zeros and cuts the renderer off), but
    /// the name exists until the renderer connects, and is left behind if
    /// main dies before then.
    Named,
}

/// A `MAP_SHARED` read-write mapping, unmapped on drop.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    named: Option<Named>,
}

/// What a named segment's mapping holds besides the memory.
struct Named {
    /// Deregistered before the mapping goes (field order).
    guard: Option<sigbus::Guard>,
    shmem: Shmem,
}

/// The `shared_memory` crate's handle: a mapping and a descriptor.
struct Shmem(shared_memory::Shmem);

// SAFETY: a mapping and a descriptor, which any thread may use and release;
// the crate only lacks the marker because it holds a raw pointer.
unsafe impl Send for Shmem {}
// SAFETY: as for `Send`; `Mapping` never hands out references into it.
unsafe impl Sync for Shmem {}

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
        Ok(Mapping {
            ptr,
            len,
            named: None,
        })
    }

    /// Creates a named segment of `len` zero bytes (mode `0600`, a random
    /// name) and maps it, guarded against truncation (main's side).
    pub fn create_named(len: usize) -> io::Result<(Mapping, SegmentName)> {
        let mut shmem = loop {
            let created = shared_memory::ShmemConf::new()
                .os_id(fresh_name())
                .size(len)
                .create();
            match created {
                Err(shared_memory::ShmemError::MappingIdExists) => continue,
                other => break other.map_err(io::Error::other)?,
            }
        };
        // Main unlinks the name itself, as soon as it can (`SegmentName`).
        shmem.set_owner(false);
        let name = SegmentName(Some(shmem.get_os_id().to_owned()));
        let mut mapping = Mapping::named(shmem, len)?;
        let guard = sigbus::guard(mapping.ptr.as_ptr(), mapping.len)?;
        if let Some(named) = &mut mapping.named {
            named.guard = Some(guard);
        }
        Ok((mapping, name))
    }

    /// Opens and maps the named segment `name`, which must hold at least
    /// `len` bytes (a renderer's side: it trusts main).
    pub fn open_named(name: &str, len: usize) -> io::Result<Mapping> {
        let shmem = shared_memory::ShmemConf::new()
            .os_id(name)
            .open()
            .map_err(io::Error::other)?;
        Mapping::named(shmem, len)
    }

    fn named(shmem: shared_memory::Shmem, len: usize) -> io::Result<Mapping> {
        if shmem.len() < len {
            return Err(io::Error::other(format!(
                "the segment is {} bytes, not {len}",
                shmem.len()
            )));
        }
        let ptr = NonNull::new(shmem.as_ptr()).ok_or_else(|| io::Error::other("null mapping"))?;
        Ok(Mapping {
            ptr,
            len,
            named: Some(Named {
                guard: None,
                shmem: Shmem(shmem),
            }),
        })
    }

    /// Whether a renderer truncated this (named) segment under main: main's
    /// view of it has been replaced by zeros.
    pub fn truncated(&self) -> bool {
        self.named
            .as_ref()
            .and_then(|n| n.guard.as_ref())
            .is_some_and(|g| g.tripped())
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
        if let Some(named) = self.named.take() {
            // The guard goes first, then the crate unmaps its mapping.
            let Named { guard, shmem } = named;
            drop(guard);
            drop(shmem.0);
            return;
        }
        // SAFETY: we own the mapping; every user holds an `Arc<Mapping>` or is
        // otherwise outlived by it, so nothing touches it after this.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A name no one guesses: `/ringipc_<pid>_<count>_<random>`, mode `0600`
/// once created (the crate's choice).
fn fresh_name() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let random = std::collections::hash_map::RandomState::new().hash_one(count);
    format!("/ringipc_{}_{count}_{random:016x}", std::process::id())
}

/// A named segment's name, unlinked when main no longer needs it: once the
/// renderer has opened it, or when the renderer is dropped unconnected.
#[derive(Debug)]
pub(crate) struct SegmentName(Option<String>);

impl SegmentName {
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }

    /// Removes the name now; the memory lives on while mapped.
    pub fn unlink(&mut self) {
        if let Some(name) = self.0.take()
            && let Ok(name) = std::ffi::CString::new(name)
        {
            // SAFETY: `name` is a valid C string.
            unsafe { libc::shm_unlink(name.as_ptr()) };
        }
    }
}

impl Drop for SegmentName {
    fn drop(&mut self) {
        self.unlink();
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

#[cfg(test)]
mod named_tests {
    use super::*;

    #[test]
    fn a_named_segment_opens_by_name_and_survives_truncation_on_mains_side() {
        let (main, mut name) = Mapping::create_named(8192).unwrap();
        let renderer = Mapping::open_named(name.as_str(), 8192).unwrap();
        // SAFETY: in bounds of both mappings of one segment.
        unsafe { renderer.range(100, 1).write_volatile(7) };
        // SAFETY: as above.
        assert_eq!(unsafe { main.range(100, 1).read_volatile() }, 7);
        assert!(
            Mapping::open_named(name.as_str(), 1 << 20).is_err(),
            "too small"
        );
        // A hostile renderer truncates it: main reads zeros instead of dying.
        let fd = std::ffi::CString::new(name.as_str()).unwrap();
        // SAFETY: shm_open of a valid C string.
        let raw = unsafe { libc::shm_open(fd.as_ptr(), libc::O_RDWR, 0) };
        assert!(raw >= 0);
        // SAFETY: our descriptor.
        assert_eq!(unsafe { libc::ftruncate(raw, 0) }, 0);
        // SAFETY: as above.
        unsafe { libc::close(raw) };
        assert!(!main.truncated());
        // SAFETY: in bounds; the access faults and is caught.
        assert_eq!(unsafe { main.range(100, 1).read_volatile() }, 0);
        assert!(main.truncated());
        let id = name.as_str().to_owned();
        name.unlink();
        assert!(Mapping::open_named(&id, 8192).is_err(), "unlinked");
        drop(renderer);
    }
}
