//! [`HeapRing`]: a ring in ordinary heap memory, for tests and the fuzz
//! entry points.

use super::{Consumer, Producer};
use crate::sync::SharedBytes;
use crate::wire::layout::RingControl;
use std::sync::Arc;

/// A ring in ordinary heap memory, for tests and the fuzz entry points: the
/// same halves as over a mapping, with nothing shared between processes.
pub(crate) struct HeapRing {
    ctrl: Box<RingControl>,
    /// `u64`s so the data area is 8-aligned, as a page-aligned mapping is;
    /// in cells, because the halves write them through a shared reference.
    words: Box<[std::cell::UnsafeCell<u64>]>,
    halves_taken: std::sync::atomic::AtomicBool,
}

// SAFETY: the cells are only accessed through `SharedBytes` by the ring's
// one producer and one consumer, under the ring protocol, as shared memory is.
unsafe impl Sync for HeapRing {}

impl HeapRing {
    /// A ring of `capacity` bytes (a power of two of at least 64) whose data
    /// area starts as `data`, zero-padded or cut to the capacity.
    pub fn new(capacity: usize, data: &[u8]) -> Arc<HeapRing> {
        assert!(capacity.is_power_of_two() && capacity >= 64);
        let mut words: Box<[_]> = (0..capacity / 8).map(|_| Default::default()).collect();
        for (word, chunk) in words.iter_mut().zip(data.chunks(8)) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            *std::cell::UnsafeCell::get_mut(word) = u64::from_ne_bytes(w);
        }
        Arc::new(HeapRing {
            ctrl: Box::default(),
            words,
            halves_taken: Default::default(),
        })
    }

    /// The ring's control block, as the peer would scribble over it.
    #[cfg(test)]
    pub fn control(&self) -> &RingControl {
        &self.ctrl
    }

    pub(super) fn bytes(&self) -> SharedBytes {
        // Writable through the cells; covers the whole slice.
        let ptr = std::cell::UnsafeCell::raw_get(self.words.as_ptr()).cast::<u8>();
        // SAFETY: the words live as long as `self`; every half holds an `Arc`.
        unsafe { SharedBytes::new(ptr, self.words.len() * 8) }
    }

    /// Its one producer and one consumer; `None` once taken.
    pub fn halves(self: &Arc<Self>) -> Option<(Producer, Consumer)> {
        if self
            .halves_taken
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let (ctrl, bytes) = (&*self.ctrl as *const RingControl, self.bytes());
        // SAFETY: the memory lies in `self`, kept by the backing; the flag
        // above makes this the ring's only producer.
        let producer = unsafe { Producer::new(ctrl, bytes, self.clone()) };
        // SAFETY: as above, its only consumer.
        let consumer = unsafe { Consumer::new(ctrl, bytes, self.clone()) };
        Some((producer, consumer))
    }
}
