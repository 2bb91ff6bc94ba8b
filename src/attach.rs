//! Attaching to a segment: turns a mapping and its [`Layout`] into one side's
//! ring halves and doorbells. Main and a renderer differ only in which half
//! of each ring they take and in how each doorbell wakes its sleeper, so this
//! is the one place where either side points into a mapping.

use crate::call_line::{CallLine, LINE_BYTES};
use crate::os::segment::Mapping;
use crate::ring::{Consumer, Producer};
use crate::sync::{Backing, SharedBytes};
use crate::wait::raw_event::RawEvent;
use crate::wait::{Doorbell, WaitBackend, Wake};
use crate::wire::layout::{BellSlot, DoorbellWord, EVENT_SLOT, Layout, RingControl, SegmentHeader};
use std::io;
use std::sync::Arc;

/// The six doorbells of a segment, as one side rings or sleeps on them.
pub(crate) struct Doorbells {
    /// request.data: main's "asleep, kick me" flag.
    pub request_data: Doorbell,
    /// request.space: the renderer sleeps here while its ring is full.
    pub request_space: Doorbell,
    /// reply.data: the renderer's receiver thread sleeps here.
    pub reply_data: Doorbell,
    /// reply.calls: renderer threads blocked on a reply sleep here.
    pub reply_calls: Doorbell,
    /// reply.space: main's flag while it holds an outbox for the renderer.
    pub reply_space: Doorbell,
    /// The call line's: the renderer thread waiting for its answer sleeps here.
    pub call: Doorbell,
}

/// How each doorbell's notifier wakes its sleeper, from one side's view.
pub(crate) struct Wakes {
    pub request_data: Wake,
    pub request_space: Wake,
    pub reply_data: Wake,
    pub reply_calls: Wake,
    pub reply_space: Wake,
    pub call: Wake,
}

/// One side's ends of a segment: its half of the request ring, its half of
/// the reply ring, the call line, and the doorbells. Each holds the mapping.
pub(crate) struct Attached<Requests, Replies> {
    pub requests: Requests,
    pub replies: Replies,
    pub line: CallLine,
    pub bells: Doorbells,
}

/// Main consumes requests and produces replies.
pub(crate) type MainEnds = Attached<Consumer, Producer>;
/// A renderer produces requests and consumes replies.
pub(crate) type RendererEnds = Attached<Producer, Consumer>;

/// A ring half that can be pointed at a ring inside a mapping.
pub(crate) trait Half {
    /// # Safety
    /// As for [`Producer::new`] / [`Consumer::new`].
    unsafe fn at(ctrl: *const RingControl, data: SharedBytes, backing: Backing) -> Self;
}

impl Half for Producer {
    unsafe fn at(ctrl: *const RingControl, data: SharedBytes, backing: Backing) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { Producer::new(ctrl, data, backing) }
    }
}

impl Half for Consumer {
    unsafe fn at(ctrl: *const RingControl, data: SharedBytes, backing: Backing) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { Consumer::new(ctrl, data, backing) }
    }
}

/// Points one side's halves and doorbells into `mapping`, laid out as
/// `layout` says (which the caller checked against the mapping's length).
/// Each side calls this once per segment, so it is the only producer and the
/// only consumer of the halves it takes.
pub(crate) fn attach<Q: Half, P: Half>(
    mapping: &Arc<Mapping>,
    layout: &Layout,
    wakes: Wakes,
) -> Attached<Q, P> {
    let backing = || -> Backing { mapping.clone() };
    let control = |offset: usize| mapping.at::<RingControl>(offset).cast_const();
    let bytes = |offset: usize, capacity: usize| {
        // SAFETY: `range` checked that the bytes lie inside the mapping, and
        // every half built from them holds the mapping.
        unsafe { SharedBytes::new(mapping.range(offset, capacity), capacity) }
    };
    let (request_ctrl, reply_ctrl) = (
        control(layout.request_control),
        control(layout.reply_control),
    );
    let request_bytes = bytes(layout.request_data, layout.request_capacity);
    let reply_bytes = bytes(layout.reply_data, layout.reply_capacity);
    // SAFETY: the ring lies in the mapping the half holds; one half per side.
    let requests = unsafe { Q::at(request_ctrl, request_bytes, backing()) };
    // SAFETY: as above.
    let replies = unsafe { P::at(reply_ctrl, reply_bytes, backing()) };
    let bell = |ctrl: *const RingControl, pick: fn(&RingControl) -> *const _, wake| {
        // SAFETY: control blocks hold only atomics, and this one lies in the mapping.
        let word = pick(unsafe { &*ctrl });
        // SAFETY: the word lies in the mapping the doorbell holds.
        unsafe { Doorbell::new(word, wake, backing()) }
    };
    let bells = Doorbells {
        request_data: bell(request_ctrl, |c| &c.data, wakes.request_data),
        request_space: bell(request_ctrl, |c| &c.space, wakes.request_space),
        reply_data: bell(reply_ctrl, |c| &c.data, wakes.reply_data),
        reply_calls: bell(reply_ctrl, |c| &c.calls, wakes.reply_calls),
        reply_space: bell(reply_ctrl, |c| &c.space, wakes.reply_space),
        call: {
            let word = mapping.at::<DoorbellWord>(layout.call_bell).cast_const();
            // SAFETY: the word lies in the mapping the doorbell holds.
            unsafe { Doorbell::new(word, wakes.call, backing()) }
        },
    };
    // SAFETY: LINE_BYTES at a LINE-aligned offset inside the mapping (`range`
    // checks the bounds), which the line holds.
    let line = unsafe { CallLine::new(bytes(layout.call_line, LINE_BYTES), backing()) };
    Attached {
        requests,
        replies,
        line,
        bells,
    }
}

/// How a doorbell that renderer threads sleep on is woken: a futex (one
/// sleeper at a time when main wakes, all when the renderer does), or under
/// the `raw_sync` backend the event in its slot, which main creates
/// (`create`) before the renderer exists and the renderer opens.
pub(crate) fn sleeper_wake(
    mapping: &Mapping,
    layout: &Layout,
    slot: BellSlot,
    backend: WaitBackend,
    create: bool,
) -> io::Result<Wake> {
    if backend != WaitBackend::RawSyncEvent {
        return Ok(if create {
            Wake::FUTEX_ONE
        } else {
            Wake::FUTEX_ALL
        });
    }
    let ptr = mapping.range(layout.event_offset(slot), EVENT_SLOT);
    if RawEvent::size_at(ptr) > EVENT_SLOT {
        return Err(io::Error::other("raw_sync event larger than its slot"));
    }
    let event = if create {
        // SAFETY: the slot is EVENT_SLOT bytes inside the mapping, unused so far.
        unsafe { RawEvent::create(ptr) }?
    } else {
        // SAFETY: main initialised an event in this slot before the renderer existed.
        unsafe { RawEvent::open(ptr) }?
    };
    Ok(Wake::Event(event, Default::default()))
}

/// Writes the header at the start of a segment nobody else sees yet (main).
pub(crate) fn write_header(mapping: &Mapping, header: SegmentHeader) {
    // SAFETY: offset 0 holds `SegmentHeader`-sized bytes (`at` checks the
    // range), and the renderer does not exist yet.
    unsafe { mapping.at::<SegmentHeader>(0).write(header) };
}

/// Copies the header out of a segment (renderer): never a reference into it.
pub(crate) fn read_header(mapping: &Mapping) -> SegmentHeader {
    // SAFETY: offset 0 holds `SegmentHeader`-sized bytes, plain data that
    // any bit pattern makes valid; main wrote it before spawning us.
    unsafe { mapping.at::<SegmentHeader>(0).read_unaligned() }
}
