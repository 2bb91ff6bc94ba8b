//! Thin wrappers over the operating system: the shared segment, the lifeline
//! socket, descriptor helpers, `poll`, and the invitation a spawned renderer
//! inherits. Knows nothing of rings, records or either side.

pub(crate) mod epoll;
pub(crate) mod fd;
pub(crate) mod inherit;
pub(crate) mod invitation;
pub(crate) mod lifeline;
pub(crate) mod pidfd;
pub(crate) mod poll;
pub(crate) mod segment;
pub(crate) mod sigbus;
pub(crate) mod thread;
pub(crate) mod timer;
pub(crate) mod unix_socket;
