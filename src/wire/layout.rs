//! The shared segment's byte layout: one `#[repr(C)]` header, two ring control
//! blocks, the call line and its doorbell, the optional `raw_sync` event
//! storage, then the two rings' data areas.
//!
//! Everything here is addressed by offset from the segment base; nothing stored in
//! the segment is a pointer. Main writes the header once before the renderer
//! exists and never reads it back: its own copy of the [`Layout`] is authoritative.

use crate::sync::{AtomicU32, AtomicU64, FutexWord};
use bytemuck::{Pod, Zeroable};

/// `b"RINGIPC\0"` read as a little-endian `u64`.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"RINGIPC\0");
/// Bumped on every change to anything in this file or in `record.rs`.
pub(crate) const LAYOUT_VERSION: u32 = 9;
/// Cache-line size used for padding: two 64-byte lines, because adjacent-line
/// prefetch makes neighbours of a 64-byte line share fate on x86.
pub(crate) const LINE: usize = 128;
/// Bytes reserved for one `raw_sync` event (mutex + condvar + flags).
pub(crate) const EVENT_SLOT: usize = 256;
/// Smallest ring capacity accepted: one page.
pub const MIN_RING_CAPACITY: usize = 4096;
/// Largest ring capacity accepted, so that every position arithmetic fits easily.
pub const MAX_RING_CAPACITY: usize = 1 << 30;

/// The first bytes of every segment. Plain data: read by the renderer with a copy.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct SegmentHeader {
    pub magic: u64,
    pub layout_version: u32,
    /// `size_of::<usize>()` of the process that built the segment.
    pub word_size: u32,
    pub segment_len: u64,
    pub request_capacity: u64,
    pub reply_capacity: u64,
    /// [`crate::WaitBackend`] as a number.
    pub wait_backend: u32,
    pub renderer_id: u32,
    pub main_pid: u32,
    /// Most payload bytes one message may have, either way.
    pub max_message_len: u32,
    /// [`NO_STREAMING_STORES`], or 0.
    pub flags: u32,
    pub reserved: u32,
}

/// Header flag: neither side writes big payloads with non-temporal stores
/// (`Config::streaming_stores(false)`; see `ring.rs`).
pub(crate) const NO_STREAMING_STORES: u32 = 1;

/// A futex word plus the count of parties sleeping on it.
///
/// `sleepers` lets the notifier skip the wake syscall when nobody sleeps; `seq`
/// changes on every wake so that a waiter that read it before re-checking its
/// condition cannot sleep through a notification (see `wait::Doorbell`).
#[repr(C, align(128))]
#[derive(Default)]
pub(crate) struct DoorbellWord {
    pub seq: FutexWord,
    pub sleepers: AtomicU32,
    /// Non-zero while a waiter has yielded its CPU to the notifier rather
    /// than sleep, and asks it to yield back once it has notified (see
    /// `wait::Doorbell::hand_over`). A hint, never trusted for more.
    pub handed: AtomicU32,
}

/// A value alone on its own pair of cache lines.
#[repr(C, align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub T);

/// The shared control block of one single-producer/single-consumer ring.
///
/// Contains only atomics, for which every bit pattern is valid, so forming a
/// reference to it is sound even when the peer scribbles over it. There is no
/// shared `tail`: records are published by their own commit word (see
/// `record::RecordHeader::commit`), so a small record costs the consumer one
/// cache line, not two.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RingControl {
    /// Byte position of the oldest unconsumed record. Written by the consumer,
    /// read by the producer only when the ring looks full.
    pub head: Padded<AtomicU64>,
    /// The consumer sleeps here when the ring is empty: main's dispatcher on
    /// the request ring, the renderer's receiver thread on the reply ring.
    pub data: DoorbellWord,
    /// The producer sleeps here when the ring is full.
    pub space: DoorbellWord,
    /// Reply ring only: `send_sync` callers sleep here for their reply. Kept
    /// apart from `data` so a reply does not wake the idle receiver thread.
    pub calls: DoorbellWord,
}

/// Where everything is inside one segment, computed identically on both sides
/// from the capacities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub request_capacity: usize,
    pub reply_capacity: usize,
    pub request_control: usize,
    pub reply_control: usize,
    /// The call line (`call_line.rs`), alone on its pair of cache lines.
    pub call_line: usize,
    /// The [`DoorbellWord`] a caller waiting on the call line sleeps on.
    pub call_bell: usize,
    /// One event slot per doorbell a renderer sleeps on (see [`BellSlot`]).
    pub events: usize,
    pub request_data: usize,
    pub reply_data: usize,
    pub segment_len: usize,
}

/// The doorbells renderer threads sleep on with a futex, which get a
/// `raw_sync` event slot each under [`crate::WaitBackend::RawSyncEvent`].
/// Main's dispatcher and a renderer's receiver thread park in `poll` instead
/// (kicked through the lifeline), so their doorbells have no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BellSlot {
    RequestSpace = 0,
    ReplyCalls = 1,
}

impl BellSlot {
    const COUNT: usize = 2;
}

impl Layout {
    /// Lays out a segment; `None` if a capacity is not a power of two within
    /// [`MIN_RING_CAPACITY`]`..=`[`MAX_RING_CAPACITY`].
    pub fn new(request_capacity: usize, reply_capacity: usize) -> Option<Layout> {
        let ok =
            |c: usize| c.is_power_of_two() && (MIN_RING_CAPACITY..=MAX_RING_CAPACITY).contains(&c);
        if !ok(request_capacity) || !ok(reply_capacity) {
            return None;
        }
        let request_control = round_up(size_of::<SegmentHeader>(), LINE);
        let reply_control = request_control + round_up(size_of::<RingControl>(), LINE);
        let call_line = reply_control + round_up(size_of::<RingControl>(), LINE);
        let call_bell = call_line + LINE;
        let events = call_bell + round_up(size_of::<DoorbellWord>(), LINE);
        let request_data = round_up(events + BellSlot::COUNT * EVENT_SLOT, 4096);
        let reply_data = request_data + request_capacity;
        let segment_len = reply_data + reply_capacity;
        Some(Layout {
            request_capacity,
            reply_capacity,
            request_control,
            reply_control,
            call_line,
            call_bell,
            events,
            request_data,
            reply_data,
            segment_len,
        })
    }

    pub fn event_offset(&self, slot: BellSlot) -> usize {
        self.events + slot as usize * EVENT_SLOT
    }

    pub fn header(
        &self,
        wait_backend: u32,
        renderer_id: u32,
        main_pid: u32,
        (max_message_len, flags): (u32, u32),
    ) -> SegmentHeader {
        SegmentHeader {
            magic: MAGIC,
            layout_version: LAYOUT_VERSION,
            word_size: size_of::<usize>() as u32,
            segment_len: self.segment_len as u64,
            request_capacity: self.request_capacity as u64,
            reply_capacity: self.reply_capacity as u64,
            wait_backend,
            renderer_id,
            main_pid,
            max_message_len,
            flags,
            reserved: 0,
        }
    }

    /// Checks a header copied out of a segment of `mapped_len` bytes and returns
    /// the layout it describes.
    pub fn from_header(h: &SegmentHeader, mapped_len: usize) -> Result<Layout, String> {
        if h.magic != MAGIC {
            return Err(format!("bad magic {:#x}", h.magic));
        }
        if h.layout_version != LAYOUT_VERSION {
            return Err(format!(
                "layout version {} (this build speaks {LAYOUT_VERSION})",
                h.layout_version
            ));
        }
        if h.word_size as usize != size_of::<usize>() {
            return Err(format!(
                "built by a {}-bit process, this one is {}-bit",
                h.word_size * 8,
                usize::BITS
            ));
        }
        if h.flags & !NO_STREAMING_STORES != 0 || h.reserved != 0 {
            return Err(format!("unknown flags {:#x}, {:#x}", h.flags, h.reserved));
        }
        let cap = |c: u64| usize::try_from(c).unwrap_or(usize::MAX);
        let layout = Layout::new(cap(h.request_capacity), cap(h.reply_capacity))
            .ok_or_else(|| "ring capacities out of range".to_string())?;
        if layout.segment_len as u64 != h.segment_len || layout.segment_len > mapped_len {
            return Err(format!(
                "segment length {} does not match layout ({}) or mapping ({mapped_len})",
                h.segment_len, layout.segment_len
            ));
        }
        Ok(layout)
    }
}

pub(crate) const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

#[cfg(not(loom))]
const _: () = {
    assert!(size_of::<SegmentHeader>() == 64);
    assert!(size_of::<RingControl>() == 4 * LINE);
    assert!(std::mem::offset_of!(RingControl, data) == LINE);
    assert!(std::mem::align_of::<RingControl>() == LINE);
    assert!(size_of::<DoorbellWord>() == LINE);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_capacities() {
        assert!(Layout::new(4096, 4096).is_some());
        assert!(Layout::new(4095, 4096).is_none());
        assert!(Layout::new(2048, 4096).is_none());
        assert!(Layout::new(4096, 3 * 4096).is_none());
        assert!(Layout::new(MAX_RING_CAPACITY * 2, 4096).is_none());
    }

    #[test]
    fn regions_do_not_overlap() {
        let l = Layout::new(8192, 4096).unwrap();
        assert!(l.request_control >= size_of::<SegmentHeader>());
        assert!(l.reply_control >= l.request_control + size_of::<RingControl>());
        assert!(l.call_line >= l.reply_control + size_of::<RingControl>());
        assert!(l.call_bell >= l.call_line + crate::call_line::LINE_BYTES);
        assert_eq!((l.call_line % LINE, l.call_bell % LINE), (0, 0));
        assert!(l.events >= l.call_bell + size_of::<DoorbellWord>());
        assert!(l.request_data >= l.events + BellSlot::COUNT * EVENT_SLOT);
        assert_eq!(l.request_data % 4096, 0);
        assert_eq!(l.reply_data, l.request_data + 8192);
        assert_eq!(l.segment_len, l.reply_data + 4096);
    }

    #[test]
    fn header_round_trip_and_mismatches() {
        let l = Layout::new(4096, 8192).unwrap();
        let h = l.header(0, 7, 42, (1 << 20, NO_STREAMING_STORES));
        assert_eq!(Layout::from_header(&h, l.segment_len), Ok(l));
        assert!(Layout::from_header(&h, l.segment_len - 1).is_err());
        // Why a header with one field changed is refused.
        let refusal = |change: fn(&mut SegmentHeader)| {
            let mut bad = h;
            change(&mut bad);
            Layout::from_header(&bad, l.segment_len).unwrap_err()
        };
        assert!(refusal(|h| h.magic ^= 1).contains("magic"));
        assert!(refusal(|h| h.layout_version += 1).contains("version"));
        assert!(refusal(|h| h.word_size = 4).contains("bit"));
        assert!(refusal(|h| h.reserved = 1).contains("flags"));
        assert!(refusal(|h| h.flags = 2).contains("flags"));
        let mut bad = h;
        bad.reply_capacity = 1 << 40;
        assert!(Layout::from_header(&bad, usize::MAX).is_err());
    }
}
