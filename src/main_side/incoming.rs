//! [`Incoming`]: the half of a renderer's connection that only the
//! dispatcher touches.

use super::web_contents::WebContents;
use crate::call_line::{LineRequest, LineServer};
use crate::os::segment::{Mapping, SegmentName};
use crate::ring::Consumer;
use crate::wait::Doorbell;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// The incoming half of one renderer's connection, owned by the dispatcher
/// for as long as the renderer is connected.
pub(crate) struct Incoming {
    pub web_contents: WebContents,
    /// The request ring's consumer.
    pub consumer: Consumer,
    /// Takes small `send_sync` requests off the call line.
    pub line: LineServer,
    /// One taken off the line, until every record pushed before it has been
    /// handled.
    pub line_waiting: Option<LineRequest>,
    /// request.data: our "I am asleep, kick me" flag.
    pub data_bell: Doorbell,
    /// request.space: the renderer sleeps here when its ring is full.
    pub space_bell: Doorbell,
    /// Closing it tells the renderer it is disconnected (the connection's
    /// reply.data doorbell holds the other reference until the disconnect).
    pub lifeline: Arc<OwnedFd>,
    /// Readable once the renderer's process ended, whoever holds its
    /// lifeline; `None` where the kernel has no pidfds.
    pub pidfd: Option<OwnedFd>,
    /// The segment, to see whether the renderer truncated it (named ones).
    pub segment: Arc<Mapping>,
    /// A named segment's name, unlinked once the renderer has opened it.
    pub name: Option<SegmentName>,
}
