//! Any `serde` value as a message payload (cargo feature `serde`).
//!
//! Bytes stay the core; this is a layer on top. [`encode`] writes a value
//! compactly with `postcard` (varint integers, no field names: both sides must
//! agree on the type, as with a struct in Rust), and [`encode_json`] writes
//! JSON for peers that speak it, such as JavaScript. A tuple is how several
//! arguments travel as one: `ipc.send_value("move", &(x, y))`.
//!
//! ```
//! use ringipc::value::{decode, encode};
//! let bytes = encode(&("ping", 3u32)).unwrap();
//! let (text, n): (String, u32) = decode(&bytes).unwrap();
//! assert_eq!((text.as_str(), n), ("ping", 3));
//! ```

use crate::error::{Error, Result};
pub use serde;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value` compactly (postcard).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| Error::Codec(e.to_string()))
}

/// Decodes a value [`encode`] wrote; [`Error::Codec`] if the bytes are not one.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Codec(e.to_string()))
}

/// Encodes `value` as JSON.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Codec(e.to_string()))
}

/// Decodes JSON into a value; [`Error::Codec`] if it is not one.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Codec(e.to_string()))
}
