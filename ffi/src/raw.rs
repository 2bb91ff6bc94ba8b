//! What crosses the boundary as raw memory: arguments C passes in, values C
//! gets back, and the user data it hands to callbacks. Every pointer the ABI
//! takes becomes a Rust reference or value through one of these functions,
//! each of which checks for NULL and leaves the rest of the contract (the
//! pointer is valid for the call) to the header's documentation.

use crate::status::Failure;
use std::ffi::{CStr, c_char, c_void};
use std::mem::ManuallyDrop;

/// Frees the `user_data` a callback was registered with; called once, on
/// whichever thread drops the registration (see the header).
pub type ringipc_free_fn = Option<extern "C" fn(user_data: *mut c_void)>;

/// Bytes that ringipc allocated and the caller owns: free them with
/// `ringipc_bytes_free`. `data` is NULL when nothing was allocated (an empty
/// value may still have a buffer). `data` and `capacity` are ringipc's and
/// must not be changed.
#[repr(C)]
#[derive(Debug)]
pub struct ringipc_bytes {
    /// The first byte; NULL if nothing was allocated, and after
    /// `ringipc_bytes_free`.
    pub data: *mut u8,
    /// How many bytes there are.
    pub len: usize,
    /// The allocation's size, for `ringipc_bytes_free`.
    pub capacity: usize,
}

impl ringipc_bytes {
    pub(crate) const EMPTY: ringipc_bytes = ringipc_bytes {
        data: std::ptr::null_mut(),
        len: 0,
        capacity: 0,
    };

    /// Hands `bytes` to C, which gives them back to `ringipc_bytes_free`.
    /// Nothing allocated is NULL, not a dangling pointer, so that C may
    /// test `data` and pass it to `memcpy`.
    pub(crate) fn from_vec(bytes: Vec<u8>) -> ringipc_bytes {
        if bytes.capacity() == 0 {
            return ringipc_bytes::EMPTY;
        }
        let mut bytes = ManuallyDrop::new(bytes);
        ringipc_bytes {
            data: bytes.as_mut_ptr(),
            len: bytes.len(),
            capacity: bytes.capacity(),
        }
    }
}

/// Frees bytes ringipc returned, and sets the struct to empty (NULL, 0, 0),
/// so that freeing it twice is harmless. NULL, and an empty struct, are
/// ignored.
///
/// # Safety
/// `bytes` is NULL or points to a `ringipc_bytes` that ringipc filled in (or
/// that is empty) and that nothing else frees.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_bytes_free(bytes: *mut ringipc_bytes) {
    crate::status::guard_value((), || {
        // SAFETY: the caller passes NULL or a valid, exclusive ringipc_bytes.
        let Some(bytes) = (unsafe { bytes.as_mut() }) else {
            return Ok(());
        };
        let owned = std::mem::replace(bytes, ringipc_bytes::EMPTY);
        if !owned.data.is_null() {
            // SAFETY: data, len and capacity came from `from_vec`'s Vec,
            // untouched (the header says so), and were taken out above, so
            // this is the one Vec that owns them.
            drop(unsafe { Vec::from_raw_parts(owned.data, owned.len, owned.capacity) });
        }
        Ok(())
    })
}

/// The `user_data` pointer a C caller registered with a callback, and the
/// function that frees it when the registration goes away.
#[derive(Debug)]
pub(crate) struct UserData {
    ptr: *mut c_void,
    free: ringipc_free_fn,
}

impl UserData {
    pub fn new(ptr: *mut c_void, free: ringipc_free_fn) -> UserData {
        UserData { ptr, free }
    }

    /// The pointer, for a callback. (A method, so that closures capture the
    /// whole `UserData`, which is `Send`, not its raw field, which is not.)
    pub fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

// SAFETY: the header states that user_data is passed to callbacks on the
// threads it names (the dispatcher, a receiver thread) and freed on any
// thread; a caller that registers one makes it safe to use there.
unsafe impl Send for UserData {}
// SAFETY: as for Send: ringipc itself never reads or writes through the
// pointer, it only hands it back to the caller's callbacks.
unsafe impl Sync for UserData {}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            free(self.ptr);
        }
    }
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: not NULL; the caller promises a NUL-terminated string valid for 'a.
    let text = unsafe { CStr::from_ptr(p) };
    text.to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
}

/// [`str_arg`] where NULL means "none".
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    p: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract, passed on.
    unsafe { str_arg(p, what) }.map(Some)
}

/// `len` bytes at `p`; NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that stay unchanged for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    // SAFETY: the caller's contract, passed on.
    unsafe { slice_arg(p, len, "data") }
}

/// `len` values at `p` (an array argument); NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` initialised values that stay unchanged
/// for `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(
    p: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(Failure::invalid(format!(
            "{what}'s length {len} is impossible"
        )));
    }
    // SAFETY: not NULL, the size fits an allocation, and the caller
    // promises len initialised values that stay unchanged for 'a.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The object a handle points to.
///
/// # Safety
/// `p` is NULL or a handle ringipc returned and has not freed, used for `'a`.
pub(crate) unsafe fn object<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: NULL or a live handle, by the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// The object a handle points to, for the one thread using it now.
///
/// # Safety
/// As for [`object`], and no other reference to it exists for `'a`.
pub(crate) unsafe fn object_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: NULL or a live handle used by this thread alone, by contract.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// Where a result goes; checked before the call acts, so that a NULL
/// out-pointer never leaves an effect behind with nowhere to report it.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// # Safety
    /// `p` is NULL or points to writable (possibly uninitialised) memory
    /// for a `T` that stays valid until [`Out::put`].
    pub unsafe fn new(p: *mut T, what: &str) -> Result<Out<T>, Failure> {
        if p.is_null() {
            return Err(Failure::invalid(format!("{what} is NULL")));
        }
        Ok(Out(p))
    }

    /// Writes `value` without reading or dropping what was there.
    pub fn put(self, value: T) {
        // SAFETY: not NULL and writable for a T, as `new`'s caller promised;
        // `write` neither reads nor drops the old contents.
        unsafe { self.0.write(value) };
    }
}

/// An optional out-pointer: NULL means the caller does not want the value.
///
/// # Safety
/// As for [`Out::new`].
pub(crate) unsafe fn put_if_wanted<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: not NULL, and writable for a T by the caller's contract.
        unsafe { p.write(value) };
    }
}

/// Copies `src` into the caller's buffer of `cap` bytes; `src` must fit.
///
/// # Safety
/// `dst` points to `cap` writable bytes (or `cap` is 0).
pub(crate) unsafe fn copy_into(dst: *mut u8, cap: usize, src: &[u8]) -> Result<(), Failure> {
    assert!(src.len() <= cap, "checked by the caller");
    if src.is_empty() {
        return Ok(());
    }
    if dst.is_null() {
        return Err(Failure::invalid("buffer is NULL"));
    }
    // SAFETY: dst holds cap >= src.len() writable bytes by contract, and
    // caller memory cannot overlap the reply ringipc owns.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
    Ok(())
}

/// Moves `value` to the heap and hands C the pointer: a handle.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back a handle from [`into_handle`] and drops it, stopping any
/// panic at the boundary; NULL is ignored.
///
/// # Safety
/// `p` is NULL or a handle from [`into_handle`] that nothing uses afterwards.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if p.is_null() {
        return;
    }
    // SAFETY: a Box pointer from into_handle, given back exactly once.
    let handle = unsafe { Box::from_raw(p) };
    crate::status::guard_value((), || {
        drop(handle);
        Ok(())
    });
}

/// A channel name as C sees it: NUL-terminated, filled in only when a
/// callback asks, so that a callback that does not ask pays nothing.
pub(crate) struct CChannel {
    text: [u8; 256],
    filled: bool,
}

impl CChannel {
    pub const fn new() -> CChannel {
        CChannel {
            text: [0; 256],
            filled: false,
        }
    }

    /// `channel`, NUL-terminated, valid while `self` is. Channel names are at
    /// most 255 bytes, and UTF-8 from ringipc, so the copy is whole.
    pub fn get(&mut self, channel: &str) -> *const c_char {
        if !self.filled {
            let len = channel.len().min(255);
            self.text[..len].copy_from_slice(&channel.as_bytes()[..len]);
            self.text[len] = 0;
            self.filled = true;
        }
        self.text.as_ptr().cast()
    }
}
