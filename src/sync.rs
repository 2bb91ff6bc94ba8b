//! The loom switch: every atomic that lives in shared memory comes from here.
//!
//! Under `--cfg loom` the same ring and doorbell code runs against loom's model
//! checker; in normal builds these are the `core` atomics. Process-local
//! bookkeeping (counters, flags that never leave this process) uses `std`
//! atomics directly and is not part of the model.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Raw access to the byte area of a ring.
///
/// In normal builds this is a pointer into a shared mapping and bytes move with
/// `copy_nonoverlapping`. Under loom every byte is a relaxed `AtomicU8`, so that a
/// missing happens-before edge on `head`/`tail` shows up as a torn record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SharedBytes {
    #[cfg(not(loom))]
    ptr: *mut u8,
    #[cfg(loom)]
    ptr: *const loom::sync::atomic::AtomicU8,
    len: usize,
}

// SAFETY: `SharedBytes` is an address plus a length; the ring protocol decides who
// touches which bytes, and every access goes through the unsafe methods below.
unsafe impl Send for SharedBytes {}
// SAFETY: as for `Send`: sharing the address does not by itself access memory.
unsafe impl Sync for SharedBytes {}

impl SharedBytes {
    /// # Safety
    /// `ptr .. ptr + len` must stay mapped and writable for the lifetime of every
    /// copy of the returned value.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        #[cfg(loom)]
        unreachable!("loom models rings over `SharedBytes::model`, not mappings ({ptr:p}, {len})");
        #[cfg(not(loom))]
        Self { ptr, len }
    }

    /// # Safety
    /// `ptr` must point to `len` atomics that outlive every copy of the value.
    #[cfg(all(loom, test))]
    pub(crate) unsafe fn model(ptr: *const loom::sync::atomic::AtomicU8, len: usize) -> Self {
        Self { ptr, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `src` to `offset ..`.
    ///
    /// # Safety
    /// `offset + src.len() <= self.len()`, and no other party reads or writes that
    /// range concurrently according to the ring protocol.
    pub(crate) unsafe fn write(&self, offset: usize, src: &[u8]) {
        debug_assert!(offset + src.len() <= self.len);
        #[cfg(not(loom))]
        // SAFETY: the caller guarantees the range is in bounds and ours to write.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(offset), src.len());
        }
        #[cfg(loom)]
        for (i, b) in src.iter().enumerate() {
            // SAFETY: in bounds by the caller's guarantee.
            let cell = unsafe { &*self.ptr.add(offset + i) };
            cell.store(*b, Ordering::Relaxed);
        }
    }

    /// Copies `offset .. offset + dst.len()` into `dst`.
    ///
    /// # Safety
    /// `offset + dst.len() <= self.len()`. The bytes may be written concurrently by
    /// a hostile peer; the copy is then garbage, never undefined behaviour on our
    /// side because no reference into the mapping is formed and the result is
    /// validated after the copy.
    pub(crate) unsafe fn read(&self, offset: usize, dst: &mut [std::mem::MaybeUninit<u8>]) {
        debug_assert!(offset + dst.len() <= self.len);
        #[cfg(not(loom))]
        // SAFETY: the caller guarantees the range is in bounds; `dst` is ours.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.add(offset), dst.as_mut_ptr().cast(), dst.len());
        }
        #[cfg(loom)]
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: in bounds by the caller's guarantee.
            let cell = unsafe { &*self.ptr.add(offset + i) };
            b.write(cell.load(Ordering::Relaxed));
        }
    }
}
