//! Renderers that attack main through their own shared segment, or misbehave
//! in other ways, while a well-behaved renderer keeps making checked calls.
//!
//! Each attacker connects normally, then finds its segment in
//! `/proc/self/maps` and writes into it what a compromised renderer could.
//! Main must neither panic nor hang nor read out of bounds: it disconnects the
//! offender with a reason naming the violation (or, for attacks that only
//! stall the attacker, keeps serving it), and the bystander sees no error and
//! no loss. The segment layout and record format are spelled out here on
//! purpose: the test doubles as a check of what `layout.rs` and `record.rs`
//! document.

mod common;

use common::*;
use ringipc::{Config, IpcMain, IpcRenderer, WebContents};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENTRY: &str = "renderer_entry";
const LIMIT: Duration = Duration::from_secs(60);
/// Main's outbox limit here: small, so a renderer that stops reading is
/// found out after a few megabytes.
const OUTBOX_LIMIT: usize = 1 << 20;
/// Messages of 1 KiB main sends to a renderer that asks for a flood: more
/// than its ring and main's outbox for it together hold.
const FLOOD: u32 = 4_000;

// The segment as `layout.rs` lays it out for the default 256 KiB rings.
const HEADER_LEN: usize = 56;
const REQUEST_CONTROL: usize = 128;
const REPLY_CONTROL: usize = 640;
/// The call line (`call_line.rs`): sequence word, call id, ring position,
/// channel and payload lengths, then their bytes.
const CALL_LINE: usize = 1152;
const REQUEST_DATA: usize = 4096;
/// Offset of `request_capacity` in the segment header.
const REQUEST_CAPACITY_AT: usize = 24;

#[test]
fn renderer_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "bystander" => role_bystander(Duration::ZERO),
        "attacker" => role_attacker(&std::env::var(ARG).unwrap()),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

// ------------------------------------------------------------ the bystander

// ------------------------------------------------------------ the attackers

/// This process's own mapping of its segment.
struct OwnSegment {
    base: *mut u8,
    len: usize,
}

impl OwnSegment {
    fn find() -> OwnSegment {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| l.contains("memfd:ringipc"))
            .expect("the segment is mapped");
        let range = line.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        OwnSegment {
            base: start as *mut u8,
            len: end - start,
        }
    }

    fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len);
        // SAFETY: inside our own mapping of the segment (checked above).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(offset), bytes.len())
        };
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= self.len);
        // SAFETY: an aligned word inside our own mapping, which lives as long
        // as the process (the renderer is never dropped here).
        unsafe { &*(self.base.add(offset) as *const AtomicU64) }
    }

    fn request_capacity(&self) -> usize {
        self.word(REQUEST_CAPACITY_AT).load(Ordering::Relaxed) as usize
    }

    /// Main's current position in the request ring, and where it is.
    fn main_head(&self) -> (u64, usize) {
        let head = self.word(REQUEST_CONTROL).load(Ordering::Acquire);
        let at = REQUEST_DATA + (head as usize & (self.request_capacity() - 1));
        (head, at)
    }

    /// Puts a record with this header and body where main reads next, and
    /// commits it (commit word last).
    fn plant(&self, payload_len: u32, kind: u8, channel_len: u8, flags: u16, body: &[u8]) {
        let (head, at) = self.main_head();
        let mut rest = Vec::new();
        rest.extend_from_slice(&payload_len.to_le_bytes());
        rest.push(kind);
        rest.push(channel_len);
        rest.extend_from_slice(&flags.to_le_bytes());
        rest.extend_from_slice(&0u64.to_le_bytes()); // call id
        rest.extend_from_slice(body);
        self.write(at + 8, &rest);
        self.word(at).store(head + 1, Ordering::Release);
    }

    /// Publishes a request on the call line (odd sequence word last).
    fn line_request(&self, seq: u64, pos: u64, lens: [u8; 2], data: &[u8]) {
        let mut rest = Vec::new();
        rest.extend_from_slice(&7u64.to_le_bytes()); // call id
        rest.extend_from_slice(&pos.to_le_bytes());
        rest.extend_from_slice(&lens);
        rest.extend_from_slice(data);
        self.write(CALL_LINE + 8, &rest);
        self.word(CALL_LINE).store(seq, Ordering::Release);
    }

    fn scribble(&self, rng: &mut Rng, offset: usize, len: usize) {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        self.write(offset, &bytes);
    }
}

fn role_attacker(attack: &str) {
    let ipc = IpcRenderer::from_env().unwrap();
    // Connected and served, before the attack.
    assert_eq!(ipc.send_sync("echo", "hello").unwrap(), b"hello");
    let seg = OwnSegment::find();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    match attack {
        "huge_length" => seg.plant(u32::MAX, 1, 4, 0, b"chan"),
        "unknown_kind" => seg.plant(0, 77, 4, 0, b"chan"),
        "reply_kind" => seg.plant(0, 3, 0, 0, b""),
        "nonzero_flags" => seg.plant(0, 1, 4, 0x8000, b"chan"),
        "channel_not_utf8" => seg.plant(0, 1, 2, 0, &[0xFF, 0xFE]),
        "no_channel" => seg.plant(0, 1, 0, 0, b""),
        "random_header" => {
            let (head, at) = seg.main_head();
            seg.scribble(&mut rng, at + 8, 16);
            seg.word(at).store(head + 1, Ordering::Release);
        }
        "random_everything" => {
            // Every byte main might read, again and again; every other round
            // the word where main reads next says "committed", so main looks
            // at random headers too. (Main's position is read before the
            // scribbling, which overwrites the shared copy of it.)
            let cap = seg.request_capacity();
            let (head, at) = seg.main_head();
            for round in 0..2_000 {
                seg.scribble(&mut rng, 0, HEADER_LEN);
                seg.scribble(&mut rng, REQUEST_CONTROL, REPLY_CONTROL - REQUEST_CONTROL);
                seg.scribble(&mut rng, REQUEST_DATA, cap);
                if round % 2 == 0 {
                    seg.word(at).store(head + 1, Ordering::Release);
                }
            }
            park_forever();
        }
        "line_too_long" => seg.line_request(1_001, 0, [20, 19], &[b'a'; 38]),
        "line_not_utf8" => seg.line_request(1_001, 0, [2, 0], &[0xFF, 0xFE]),
        "line_garbage" => {
            // Requests with random contents (within the line) as fast as
            // main takes them, under ever new sequence numbers: each is a
            // call on some channel, answered as such.
            for round in 0..20_000u64 {
                let c = 1 + (rng.next() % 20) as u8;
                let p = (rng.next() % (38 - c as u64 + 1)) as u8;
                let data: Vec<u8> = (0..38).map(|_| b'a' + (rng.next() % 26) as u8).collect();
                seg.line_request(2 * round + 1_001, 0, [c, p], &data);
                std::thread::yield_now();
            }
            park_forever();
        }
        "line_ahead" => {
            // A request that claims to follow records never pushed: only
            // this renderer's calls on the line stall.
            seg.line_request(1_001, u64::MAX / 2, [4, 0], b"echo");
            park_forever();
        }
        "corrupt_header" => {
            seg.scribble(&mut rng, 0, HEADER_LEN);
            // Main never reads the header back: the renderer is still served.
            assert_eq!(ipc.send_sync("echo", "after").unwrap(), b"after");
            return;
        }
        "abandoned_record" => {
            // Half a record, never committed: only this renderer stalls.
            let (_, at) = seg.main_head();
            seg.write(at + 8, &[16, 0, 0, 0, 1, 4, 0, 0]);
            park_forever();
        }
        "stale_commit" => {
            // A commit word from a lap that never was: ignored as not ready.
            let (head, at) = seg.main_head();
            seg.word(at).store(head.wrapping_sub(7), Ordering::Release);
            park_forever();
        }
        "doorbells" => {
            // Garbage sleeper counts and sequence numbers while calling.
            for i in 0..20_000u64 {
                for ctrl in [REQUEST_CONTROL, REPLY_CONTROL] {
                    seg.scribble(&mut rng, ctrl + 128, 8);
                    seg.scribble(&mut rng, ctrl + 256, 8);
                    seg.scribble(&mut rng, ctrl + 384, 8);
                }
                let _ = ipc.send_sync_timeout("echo", i.to_le_bytes(), Duration::from_millis(100));
            }
            park_forever();
        }
        "reply_head_garbage" => {
            // Stop reading (the receiver thread blocks in a listener), ask for
            // more than the ring holds, and claim to have consumed far beyond
            // what main wrote: main must notice when it looks for room.
            ipc.on("flooded", |_, _| park_forever()).unwrap();
            // The lie is in place before main starts writing.
            let head = seg.word(REPLY_CONTROL) as *const AtomicU64 as usize;
            std::thread::spawn(move || {
                // SAFETY: the word is in our segment's mapping, which lives as
                // long as the process.
                let head = unsafe { &*(head as *const AtomicU64) };
                loop {
                    head.store(u64::MAX / 3, Ordering::Release);
                    std::thread::yield_now();
                }
            });
            ipc.send("flood", FLOOD.to_le_bytes()).unwrap();
            park_forever();
        }
        "never_reads" => {
            ipc.on("flooded", |_, _| park_forever()).unwrap();
            ipc.send("flood", FLOOD.to_le_bytes()).unwrap();
            park_forever();
        }
        "sigstop" => {
            ipc.send("flood", FLOOD.to_le_bytes()).unwrap();
            // SAFETY: stopping ourselves; the test kills us at the end.
            unsafe { libc::raise(libc::SIGSTOP) };
            park_forever();
        }
        "tight_send_sync" => loop {
            if ipc.send_sync("echo", [1u8; 16]).is_err() {
                return;
            }
        },
        "resize_segment" => {
            // The segment is a sealed memfd: even with a writable descriptor
            // for it, it cannot be resized under main.
            let path = format!(
                "/proc/self/map_files/{:x}-{:x}",
                seg.base as usize,
                seg.base as usize + seg.len
            );
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
            {
                Ok(f) => {
                    let shrink = f.set_len(4096).unwrap_err();
                    assert_eq!(shrink.raw_os_error(), Some(libc::EPERM), "{shrink}");
                    let grow = f.set_len(seg.len as u64 * 2).unwrap_err();
                    assert_eq!(grow.raw_os_error(), Some(libc::EPERM), "{grow}");
                    eprintln!("resize_segment: sealed, shrink and grow refused with EPERM");
                }
                Err(e) => eprintln!("resize_segment: no descriptor for the segment to be had: {e}"),
            }
            assert_eq!(ipc.send_sync("echo", "still").unwrap(), b"still");
            return;
        }
        other => panic!("unknown attack {other}"),
    }
    park_forever();
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

// ------------------------------------------------------------ main's side

/// What main must do about an attacker.
enum Outcome {
    /// Disconnect it, with a reason containing one of these texts.
    Disconnected(&'static [&'static str]),
    /// Keep it connected (it only stalls or tires itself) until it is killed.
    Survives,
    /// It finishes its own checks and exits cleanly.
    Exits,
}

struct Main {
    ipc: IpcMain,
    served: Arc<Mutex<HashMap<u32, u64>>>,
}

impl Main {
    fn new() -> Main {
        let ipc = IpcMain::with_config(Config::default().outbox_limit(OUTBOX_LIMIT)).unwrap();
        let served: Arc<Mutex<HashMap<u32, u64>>> = Arc::default();
        let s = served.clone();
        ipc.on("echo", move |e, arg| {
            *s.lock().unwrap().entry(e.sender().id()).or_default() += 1;
            e.set_return_value(arg);
        })
        .unwrap();
        ipc.on("flood", |e, arg| {
            let n = u32::from_le_bytes(arg.try_into().unwrap());
            let message = [0x42u8; 1024];
            for _ in 0..n {
                if e.sender().send("flooded", message).is_err() {
                    break;
                }
            }
        })
        .unwrap();
        Main { ipc, served }
    }

    fn served(&self, wc: &WebContents) -> u64 {
        self.served
            .lock()
            .unwrap()
            .get(&wc.id())
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `wc` has been served `more` calls beyond now.
    fn keeps_serving(&self, wc: &WebContents, more: u64, what: &str) {
        let before = self.served(wc);
        eventually(LIMIT, what, || self.served(wc) >= before + more);
    }
}

fn attack(name: &str, outcome: Outcome) {
    let _serial = serial();
    let main = Main::new();
    let (bystander, mut bystander_child) = spawn(&main.ipc, ENTRY, "bystander", "");
    main.keeps_serving(&bystander, 1_000, "the bystander to get going");
    let (attacker, mut attacker_child) = spawn(&main.ipc, ENTRY, "attacker", name);
    match outcome {
        Outcome::Disconnected(why) => {
            eventually(LIMIT, "main to disconnect the attacker", || {
                !attacker.is_connected()
            });
            let reason = attacker.disconnect_reason().unwrap();
            eprintln!("{name}: disconnected: {reason}");
            assert!(
                why.iter().any(|w| reason.contains(w)),
                "{name}: reason {reason:?} has none of {why:?}"
            );
            // Its mapping and state are gone from main.
            eventually(LIMIT, "main to drop the attacker", || {
                main.ipc.renderers().len() == 1
            });
        }
        Outcome::Survives => {
            main.keeps_serving(&bystander, 2_000, "the bystander during the attack");
            assert!(
                attacker.is_connected(),
                "{name}: {:?}",
                attacker.disconnect_reason()
            );
            eprintln!("{name}: still connected, main unharmed");
        }
        Outcome::Exits => {
            attacker_child.assert_success(LIMIT);
            eprintln!("{name}: attacker's own checks passed");
        }
    }
    main.keeps_serving(&bystander, 2_000, "the bystander after the attack");
    attacker_child.kill();
    bystander.send("stop", []).unwrap();
    bystander_child.assert_success(LIMIT);
    assert!(shm_leftovers().is_empty());
}

#[test]
fn huge_length_is_a_violation() {
    attack("huge_length", Outcome::Disconnected(&["at most"]));
}

#[test]
fn unknown_kind_is_a_violation() {
    attack("unknown_kind", Outcome::Disconnected(&["kind 77"]));
}

#[test]
fn reply_kind_from_a_renderer_is_a_violation() {
    attack("reply_kind", Outcome::Disconnected(&["kind 3"]));
}

#[test]
fn nonzero_flags_are_a_violation() {
    attack("nonzero_flags", Outcome::Disconnected(&["flags"]));
}

#[test]
fn channel_that_is_not_utf8_is_a_violation() {
    attack("channel_not_utf8", Outcome::Disconnected(&["UTF-8"]));
}

#[test]
fn message_without_channel_is_a_violation() {
    attack("no_channel", Outcome::Disconnected(&["channel length"]));
}

#[test]
fn random_header_is_a_violation() {
    attack(
        "random_header",
        Outcome::Disconnected(&["protocol violation"]),
    );
}

#[test]
fn random_bytes_everywhere_are_a_violation() {
    attack(
        "random_everything",
        Outcome::Disconnected(&["protocol violation"]),
    );
}

#[test]
fn call_line_request_longer_than_the_line_is_a_violation() {
    attack("line_too_long", Outcome::Disconnected(&["call line"]));
}

#[test]
fn call_line_channel_that_is_not_utf8_is_a_violation() {
    attack("line_not_utf8", Outcome::Disconnected(&["UTF-8"]));
}

#[test]
fn call_line_garbage_is_answered_as_calls() {
    attack("line_garbage", Outcome::Survives);
}

#[test]
fn call_line_request_ahead_of_the_ring_stalls_only_its_writer() {
    attack("line_ahead", Outcome::Survives);
}

#[test]
fn corrupt_segment_header_is_ignored() {
    attack("corrupt_header", Outcome::Exits);
}

#[test]
fn abandoned_record_stalls_only_its_writer() {
    attack("abandoned_record", Outcome::Survives);
}

#[test]
fn stale_commit_word_stalls_only_its_writer() {
    attack("stale_commit", Outcome::Survives);
}

#[test]
fn garbage_doorbells_do_not_hurt_main() {
    attack("doorbells", Outcome::Survives);
}

#[test]
fn reply_head_beyond_the_ring_is_a_violation() {
    // Main sees the bad head when it looks for room; should it have queued the
    // flood before it looked, the outbox limit cuts the renderer off first.
    attack(
        "reply_head_garbage",
        Outcome::Disconnected(&["head moved", "not reading"]),
    );
}

#[test]
fn renderer_that_never_reads_is_cut_off() {
    attack("never_reads", Outcome::Disconnected(&["not reading"]));
}

#[test]
fn stopped_renderer_is_cut_off() {
    attack("sigstop", Outcome::Disconnected(&["not reading"]));
}

#[test]
fn tight_send_sync_loop_does_not_starve_others() {
    attack("tight_send_sync", Outcome::Survives);
}

#[test]
fn segment_cannot_be_resized() {
    attack("resize_segment", Outcome::Exits);
}
