//! The named-segment backend (`SegmentBackend::Named`): renderers that open
//! their segment by name, spawned or attached, and renderers that truncate
//! it under main, which must cut them off instead of dying of SIGBUS.

mod common;

use common::*;
use ringipc::{Config, IpcMain, IpcRenderer, SegmentBackend};
use std::time::Duration;

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "pings" => role_pings(),
        "truncates_first" => role_truncates_first(),
        "truncates_later" => role_truncates_later(),
        "bystander" => role_bystander(Duration::from_millis(1)),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn named_main() -> IpcMain {
    let ipc =
        IpcMain::with_config(Config::default().segment_backend(SegmentBackend::Named)).unwrap();
    ipc.on("ping", |e, _| {
        e.set_return_value("pong");
    })
    .unwrap();
    echo_and_notes(&ipc);
    ipc
}

fn role_pings() {
    let ipc = IpcRenderer::from_env().unwrap();
    for _ in 0..100 {
        assert_eq!(ipc.send_sync("ping", []).unwrap(), b"pong");
    }
}

/// The segment's name from the invitation (`named:<name>:...`).
fn segment_name() -> std::ffi::CString {
    let invitation = std::env::var("RINGIPC_RENDERER").unwrap();
    let name = invitation.split(':').nth(1).unwrap();
    std::ffi::CString::new(name).unwrap()
}

fn truncate(fd: i32) {
    // SAFETY (test): ftruncate on a descriptor of ours.
    assert_eq!(
        unsafe { libc::ftruncate(fd, 0) },
        0,
        "{}",
        std::io::Error::last_os_error()
    );
}

/// Opens its segment by name before connecting, and empties it.
fn role_truncates_first() {
    let name = segment_name();
    // SAFETY (test): shm_open of a valid C string.
    let fd = unsafe { libc::shm_open(name.as_ptr(), libc::O_RDWR, 0) };
    assert!(fd >= 0);
    truncate(fd);
    // It never connects: main, looking at its ring, faults, and must live.
    std::thread::sleep(Duration::from_secs(5));
}

/// Connects, works, then finds its segment's descriptor and empties it.
/// Without a receiver thread: one that has not parked yet (started late on
/// a busy machine) would read the emptied ring and die of SIGBUS, which
/// main would see as an exit, not a truncation.
fn role_truncates_later() {
    let ipc = IpcRenderer::from_env_without_receiver().unwrap();
    assert_eq!(ipc.send_sync("ping", []).unwrap(), b"pong");
    let segment = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|t| t.to_string_lossy().contains("/dev/shm/ringipc_"))
        })
        .expect("the segment's descriptor");
    let fd: i32 = segment.file_name().to_str().unwrap().parse().unwrap();
    truncate(fd);
    // Main's next look at the ring faults; it must cut us off. (This process
    // must not touch the segment again: its own mapping is unguarded.)
    std::thread::sleep(Duration::from_secs(5));
    std::mem::forget(ipc);
}

fn shmem_names() -> Vec<String> {
    shm_leftovers()
}

#[test]
fn a_spawned_renderer_opens_a_named_segment_and_no_name_is_left() {
    let _serial = serial();
    let before = shmem_names();
    let ipc = named_main();
    let (wc, mut child) = spawn(&ipc, ENTRY, "pings", "");
    child.assert_success(LIMIT);
    eventually(LIMIT, "the renderer to be gone", || !wc.is_connected());
    assert_eq!(
        shmem_names(),
        before,
        "the name went once the renderer opened it"
    );
    // A renderer that never connects: its name goes with it.
    let prepared = ipc.prepare_renderer().unwrap();
    assert!(
        prepared.segment_fd().is_none(),
        "a named segment has no descriptor to pass"
    );
    assert_ne!(shmem_names(), before);
    drop(prepared);
    assert_eq!(shmem_names(), before);
}

#[test]
fn an_attached_renderer_opens_a_named_segment() {
    let _serial = serial();
    let path = std::env::temp_dir().join(format!("ringipc-named-{}.sock", std::process::id()));
    // Removes the socket file even if the test fails.
    struct Remove<'a>(&'a std::path::Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _remove = Remove(&path);
    let before = shmem_names();
    let ipc = named_main();
    ipc.listen(&*path).unwrap();
    let renderer = IpcRenderer::connect(&*path).unwrap();
    assert_eq!(renderer.send_sync("ping", []).unwrap(), b"pong");
    // It kicked on connecting: main unlinks the name when it sees the kick.
    eventually(LIMIT, "the name to go", || shmem_names() == before);
    drop(renderer);
    ipc.shutdown();
    assert!(!path.exists());
}

#[test]
fn a_renderer_that_truncates_its_named_segment_is_cut_off_and_main_lives() {
    let _serial = serial();
    for role in ["truncates_first", "truncates_later"] {
        let ipc = named_main();
        let (bystander, mut calm) = spawn(&ipc, ENTRY, "bystander", "");
        // Its first call comes after its "stop" listener is up.
        eventually(LIMIT, "the bystander to get going", || {
            bystander.stats().sync_calls > 0
        });
        let (hostile, mut child) = spawn(&ipc, ENTRY, role, "");
        eventually(LIMIT, "main to cut the truncating renderer off", || {
            !hostile.is_connected()
        });
        let reason = hostile.disconnect_reason().unwrap();
        assert!(reason.contains("truncated"), "{role}: {reason}");
        child.kill();
        // The bystander never noticed; main still answers.
        bystander.send("stop", "").unwrap();
        calm.assert_success(LIMIT);
    }
}
