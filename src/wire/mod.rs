//! The bytes both processes agree on: the segment's layout, the record
//! format, how long messages are cut into fragments, and how a failed call is
//! encoded. Knows nothing of either side, of waiting, or of the OS.

pub(crate) mod failure;
pub(crate) mod fragment;
pub(crate) mod handshake;
pub(crate) mod layout;
pub(crate) mod record;
pub(crate) mod request;
