//! The loom switch: every atomic that lives in shared memory comes from here,
//! and so do those of the renderer's drain turn (`renderer_side::drain_turn`),
//! a handshake between threads of one process.
//!
//! Under `--cfg loom` the ring, doorbell and drain-turn code runs against
//! loom's model checker; in normal builds these are the `core` atomics. Other
//! process-local bookkeeping (counters, flags that publish no data) uses `std`
//! atomics directly and is not part of the model.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};

/// What keeps shared memory mapped: every handle that points into a segment
/// (ring halves, doorbells) holds one, so the memory outlives them all.
pub(crate) type Backing = std::sync::Arc<dyn Send + Sync>;

/// A 32-bit word that threads of any process may sleep on: what the futex
/// wrapper (`wait::futex`) takes, as std's takes an `&AtomicU32`. Under loom
/// it also carries the model of the kernel's hash bucket for this address.
#[cfg_attr(not(loom), repr(transparent))]
#[cfg_attr(loom, repr(C))]
#[derive(Default)]
pub(crate) struct FutexWord {
    value: AtomicU32,
    #[cfg(loom)]
    pub(crate) bucket: FutexBucket,
}

impl std::ops::Deref for FutexWord {
    type Target = AtomicU32;
    fn deref(&self) -> &AtomicU32 {
        &self.value
    }
}

/// Loom's stand-in for the kernel's futex bucket: the value check and the
/// sleep happen under one lock, exactly as the kernel's hash-bucket lock does.
#[cfg(loom)]
#[derive(Default)]
pub(crate) struct FutexBucket {
    pub(crate) lock: loom::sync::Mutex<()>,
    pub(crate) cv: loom::sync::Condvar,
}

/// Raw access to the byte area of a ring.
///
/// In normal builds this is a pointer into a shared mapping: bytes move with
/// `copy_nonoverlapping` (or non-temporal stores, [`Self::write_streaming`]),
/// and commit words are `AtomicU64`s at 8-aligned
/// offsets. Under loom the bytes are `loom::cell::UnsafeCell`s, so any byte
/// access not ordered by a happens-before edge is reported as a data race, and
/// the commit words live in a parallel array of loom atomics (the ring never
/// accesses a word's bytes and the word concurrently; see `ring.rs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SharedBytes {
    #[cfg(not(loom))]
    ptr: *mut u8,
    #[cfg(loom)]
    cells: *const loom::cell::UnsafeCell<u8>,
    #[cfg(loom)]
    words: *const AtomicU64,
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
    /// `cells` must point to `len` cells and `words` to `len / 8` atomics, all
    /// outliving every copy of the value.
    #[cfg(all(loom, test))]
    pub(crate) unsafe fn model(
        cells: *const loom::cell::UnsafeCell<u8>,
        words: *const AtomicU64,
        len: usize,
    ) -> Self {
        Self { cells, words, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where ring position `pos` lies in the area. Rings are a power of two
    /// long, so this is a mask, not a division.
    #[inline]
    pub(crate) fn offset_of(&self, pos: u64) -> usize {
        debug_assert!(self.len.is_power_of_two());
        (pos & (self.len as u64 - 1)) as usize
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
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.wrapping_add(offset), src.len());
        }
        #[cfg(loom)]
        for (i, b) in src.iter().enumerate() {
            // SAFETY: in bounds by the caller's guarantee.
            let cell = unsafe { &*self.cells.wrapping_add(offset + i) };
            // SAFETY: loom checks that no other access races with this one.
            cell.with_mut(|p| unsafe { *p = *b });
        }
    }

    /// [`Self::write`] with non-temporal stores where the target has them
    /// (x86-64): the whole cache lines of the range go to memory without
    /// being read into this core's cache first, and a store fence ends the
    /// copy, so that a store after this call (the commit word) publishes
    /// them as it publishes plain stores. Worth it only for big copies into
    /// lines the other side read lately (see `ring.rs`, `STREAM_AT_LEAST`).
    ///
    /// # Safety
    /// As for [`Self::write`].
    pub(crate) unsafe fn write_streaming(&self, offset: usize, src: &[u8]) {
        debug_assert!(offset + src.len() <= self.len);
        #[cfg(all(not(loom), target_arch = "x86_64"))]
        {
            use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
            const LINE: usize = 64;
            let dst = self.ptr.wrapping_add(offset);
            // Plain stores up to the first line boundary and after the last
            // whole line: a line never mixes the two kinds of store.
            let head = dst.align_offset(LINE).min(src.len());
            let body_end = head + (src.len() - head) / LINE * LINE;
            // SAFETY: a prefix of the caller's range.
            unsafe { self.write(offset, &src[..head]) };
            let lines = dst.wrapping_add(head).cast::<__m128i>();
            for (i, chunk) in src[head..body_end].chunks_exact(16).enumerate() {
                // SAFETY: the 16 bytes of `chunk` (an unaligned load).
                let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
                // SAFETY: 16 bytes inside the caller's range, 16-aligned
                // (`dst + head` is 64-aligned).
                unsafe { _mm_stream_si128(lines.wrapping_add(i), v) };
            }
            // SAFETY: the rest of the caller's range.
            unsafe { self.write(offset + body_end, &src[body_end..]) };
            // SYNC(commit): the non-temporal stores above, which x86's
            // ordering of plain stores does not cover, before every later
            // store: the commit word's Release in `Producer::try_push_flagged`.
            // Not `nomem`: the compiler must not move the stores past it.
            // SAFETY: a store fence reads and writes no memory of its own.
            unsafe { std::arch::asm!("sfence", options(nostack, preserves_flags)) };
        }
        #[cfg(not(all(not(loom), target_arch = "x86_64")))]
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            self.write(offset, src)
        }
    }

    /// Atomically stores the 8-byte word at `offset`.
    ///
    /// # Safety
    /// `offset` is a multiple of 8 and `offset + 8 <= self.len()`; the base is
    /// 8-aligned.
    pub(crate) unsafe fn store_word(&self, offset: usize, value: u64, order: Ordering) {
        debug_assert!(offset % 8 == 0 && offset + 8 <= self.len);
        #[cfg(not(loom))]
        {
            let word = self.ptr.wrapping_add(offset).cast::<AtomicU64>();
            // SAFETY: aligned and in bounds by the caller's guarantee; an
            // `AtomicU64` has the size and alignment of a `u64`.
            unsafe { &*word }.store(value, order);
        }
        #[cfg(loom)]
        // SAFETY: `offset / 8 < len / 8` by the caller's guarantee.
        unsafe { &*self.words.wrapping_add(offset / 8) }.store(value, order);
    }

    /// Atomically loads the 8-byte word at `offset`; see [`Self::store_word`].
    ///
    /// # Safety
    /// As for [`Self::store_word`].
    pub(crate) unsafe fn load_word(&self, offset: usize, order: Ordering) -> u64 {
        debug_assert!(offset % 8 == 0 && offset + 8 <= self.len);
        #[cfg(not(loom))]
        {
            let word = self.ptr.wrapping_add(offset).cast::<AtomicU64>();
            // SAFETY: as in `store_word`.
            unsafe { &*word }.load(order)
        }
        #[cfg(loom)]
        // SAFETY: `offset / 8 < len / 8` by the caller's guarantee.
        unsafe { &*self.words.wrapping_add(offset / 8) }.load(order)
    }

    /// Copies `offset .. offset + dst.len()` into `dst`.
    ///
    /// # Safety
    /// `offset + dst.len() <= self.len()`.
    ///
    /// A hostile peer may write these bytes while we copy them. In Rust's
    /// abstract machine that is a data race; what we rely on is narrower and
    /// holds on every target we build for: a plain `memcpy` from a shared
    /// mapping reached only through a raw pointer yields *some* bytes, which
    /// callers treat as untrusted and validate after the copy. No reference to
    /// the bytes is ever formed.
    pub(crate) unsafe fn read(&self, offset: usize, dst: &mut [std::mem::MaybeUninit<u8>]) {
        debug_assert!(offset + dst.len() <= self.len);
        #[cfg(not(loom))]
        // SAFETY: the caller guarantees the range is in bounds; `dst` is ours.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.wrapping_add(offset),
                dst.as_mut_ptr().cast(),
                dst.len(),
            );
        }
        #[cfg(loom)]
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: in bounds by the caller's guarantee.
            let cell = unsafe { &*self.cells.wrapping_add(offset + i) };
            // SAFETY: loom checks that no other access races with this one.
            b.write(cell.with(|p| unsafe { *p }));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::SharedBytes;

    #[test]
    fn streaming_writes_land_exactly_where_plain_ones_do() {
        const AREA: usize = 512;
        const GUARD: u8 = 0xEE;
        // 8-aligned, so offsets walk every alignment within a cache line
        // (the area's base is at some alignment of its own).
        let mut words = vec![0u64; AREA / 8];
        let base = words.as_mut_ptr().cast::<u8>();
        // SAFETY: `words` outlives `bytes` and nothing else touches it.
        let bytes = unsafe { SharedBytes::new(base, AREA) };
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for offset in 0..128 {
            for len in 0..=src.len() {
                // SAFETY: the whole area, ours.
                unsafe { base.write_bytes(GUARD, AREA) };
                // SAFETY: `offset + len <= 428 < AREA`.
                unsafe { bytes.write_streaming(offset, &src[..len]) };
                // SAFETY: the area, initialised above; written only by us.
                let area = unsafe { std::slice::from_raw_parts(base, AREA) };
                assert_eq!(
                    &area[offset..offset + len],
                    &src[..len],
                    "at {offset}, {len} bytes"
                );
                assert!(
                    area[..offset].iter().all(|&b| b == GUARD)
                        && area[offset + len..].iter().all(|&b| b == GUARD),
                    "a byte outside {offset}..{} changed",
                    offset + len
                );
            }
        }
    }
}
