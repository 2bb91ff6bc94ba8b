//! Plain-old-data values as message payloads, without a serialization step.
//!
//! Sending a [`Pod`] value sends its bytes as they lie in memory
//! (`bytemuck::bytes_of`): no encoding, no allocation. On the receiving side a
//! payload is only bytes at whatever alignment the ring left them, so
//! [`read_pod`] copies them into a properly aligned value, and [`pod_ref`]
//! borrows in place when the alignment happens to allow it. Both sides must
//! agree on the type; only the size is checked.

pub use bytemuck::Pod;

/// Reads a `T` from a payload of exactly `size_of::<T>()` bytes, wherever it
/// lies: the bytes are copied, so alignment does not matter. `None` if the
/// size differs.
///
/// ```
/// use ringipc::pod::read_pod;
/// let bytes = 7u64.to_ne_bytes();
/// assert_eq!(read_pod::<u64>(&bytes), Some(7));
/// assert_eq!(read_pod::<u64>(&bytes[1..]), None);
/// ```
pub fn read_pod<T: Pod>(payload: &[u8]) -> Option<T> {
    bytemuck::try_pod_read_unaligned(payload).ok()
}

/// Borrows a payload of exactly `size_of::<T>()` bytes as a `T`, without a
/// copy, when it is aligned for `T`; `None` otherwise (then use
/// [`read_pod`]).
pub fn pod_ref<T: Pod>(payload: &[u8]) -> Option<&T> {
    bytemuck::try_from_bytes(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Point {
        x: f64,
        y: f64,
    }

    #[test]
    fn misaligned_payloads_are_read_by_copy() {
        let p = Point { x: 1.5, y: -2.0 };
        let mut buf = vec![0u8; 1 + size_of::<Point>()];
        buf[1..].copy_from_slice(bytemuck::bytes_of(&p));
        assert_eq!(read_pod::<Point>(&buf[1..]), Some(p));
        assert_eq!(pod_ref::<Point>(&buf[1..]), None, "misaligned: no borrow");
        assert_eq!(read_pod::<Point>(&buf), None, "wrong size");
        let aligned = [p];
        let bytes: &[u8] = bytemuck::cast_slice(&aligned);
        assert_eq!(pod_ref::<Point>(bytes), Some(&p));
    }
}
