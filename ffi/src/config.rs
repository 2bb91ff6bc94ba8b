//! `ringipc_config`: main's settings, built before `ringipc_main_new`.

use crate::raw::{self, into_handle, object_mut};
use crate::status::{guard, guard_value, ringipc_status};
use ringipc::Config;
use std::time::Duration;

/// Settings for a main, built before `ringipc_main_new`. Owned by the
/// caller: free it with `ringipc_config_free`. Not thread-safe.
#[derive(Debug, Default)]
pub struct ringipc_config(pub(crate) Config);

/// A configuration with ringipc's defaults. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ringipc_config_new() -> *mut ringipc_config {
    guard_value(std::ptr::null_mut(), || {
        Ok(into_handle(ringipc_config::default()))
    })
}

/// Frees a configuration. NULL is ignored.
///
/// # Safety
/// `config` is NULL or from `ringipc_config_new`, and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_free(config: *mut ringipc_config) {
    // SAFETY: the caller gives back a handle it owns, once.
    unsafe { raw::free_handle(config) };
}

/// Applies `change` to the configuration behind `config`.
///
/// # Safety
/// `config` is NULL or a live configuration used by this thread alone.
unsafe fn configure(
    config: *mut ringipc_config,
    change: impl FnOnce(Config) -> Config,
) -> ringipc_status {
    guard(|| {
        // SAFETY: the caller's contract, passed on.
        let config = unsafe { object_mut(config, "config") }?;
        config.0 = change(std::mem::take(&mut config.0));
        Ok(())
    })
}

/// Whether main runs its own dispatcher thread (the default, `true`), or
/// the host runs dispatch from its loop with `ringipc_main_dispatch`.
///
/// # Safety
/// `config` is a live configuration used by this thread alone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_set_dispatcher_thread(
    config: *mut ringipc_config,
    own_thread: bool,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { configure(config, |c| c.dispatcher_thread(own_thread)) }
}

/// Bytes in each renderer's two rings (renderer → main, main → renderer):
/// powers of two from 4 KiB to 1 GiB, checked by `ringipc_main_new`.
/// Default 256 KiB each; 1 MiB rings carry big messages about twice as fast.
///
/// # Safety
/// As for `ringipc_config_set_dispatcher_thread`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_set_ring_capacities(
    config: *mut ringipc_config,
    request_bytes: usize,
    reply_bytes: usize,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        configure(config, |c| {
            c.request_ring_capacity(request_bytes)
                .reply_ring_capacity(reply_bytes)
        })
    }
}

/// The largest message, in bytes, that main accepts from a renderer.
/// Default 256 MiB.
///
/// # Safety
/// As for `ringipc_config_set_dispatcher_thread`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_set_max_message_len(
    config: *mut ringipc_config,
    bytes: u32,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { configure(config, |c| c.max_message_len(bytes as usize)) }
}

/// Whether big payloads (records of 32 KiB or more, pieces of 16 KiB or more
/// of a call or answer) go into rings of at most 512 KiB with non-temporal
/// stores, both ways (default `true`): faster where main and
/// its renderers run on different cores, slower where they share one
/// core's cache (threads pinned to one core's two hyperthreads).
///
/// # Safety
/// As for `ringipc_config_set_dispatcher_thread`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_set_streaming_stores(
    config: *mut ringipc_config,
    on: bool,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { configure(config, |c| c.streaming_stores(on)) }
}

/// How long the dispatcher spins for more work before it sleeps, in
/// microseconds (default 50): longer is faster for back-to-back calls and
/// costs CPU while idle-but-recent. 0 sleeps at once.
///
/// # Safety
/// As for `ringipc_config_set_dispatcher_thread`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_set_dispatcher_spin_us(
    config: *mut ringipc_config,
    micros: u64,
) -> ringipc_status {
    let spin = Duration::from_micros(micros);
    // SAFETY: the caller's contract, passed on.
    unsafe { configure(config, |c| c.dispatcher_spin(spin)) }
}

/// The heap bytes main may hold on all renderers' behalf at once
/// (default 1 GiB); a renderer that would pass it is disconnected.
///
/// # Safety
/// As for `ringipc_config_set_dispatcher_thread`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringipc_config_set_memory_limit(
    config: *mut ringipc_config,
    bytes: usize,
) -> ringipc_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { configure(config, |c| c.memory_limit(bytes)) }
}
