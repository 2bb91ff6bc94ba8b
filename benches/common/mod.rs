//! Pieces the benches share: the main/renderer scaffolding, forked helper
//! processes, the spin ping-pong floor, and main → renderer blasts.

#![allow(dead_code)]

use ringipc::{Config, IpcMain, IpcRenderer, WebContents};
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// The shape of every bench: this binary is main, with an `echo` listener
/// plus whatever `setup` adds, and it re-executes itself (with its own
/// arguments, so criterion's flags reach the renderer) as the renderer, which
/// runs `renderer` and measures.
pub fn main_then_renderer(
    role: &str,
    setup: impl FnOnce(&IpcMain),
    renderer: impl FnOnce(),
) -> ExitCode {
    main_then_renderer_with(role, Config::default(), setup, renderer)
}

/// [`main_then_renderer`] with main built from `config`.
pub fn main_then_renderer_with(
    role: &str,
    config: Config,
    setup: impl FnOnce(&IpcMain),
    renderer: impl FnOnce(),
) -> ExitCode {
    if std::env::var_os(role).is_some() {
        renderer();
        return ExitCode::SUCCESS;
    }
    let ipc = IpcMain::with_config(config).expect("start main");
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .expect("listen");
    setup(&ipc);
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args(std::env::args_os().skip(1)).env(role, "renderer");
    let (_renderer, mut child) = ipc.spawn(&mut cmd).expect("spawn renderer");
    let status = child.wait().expect("wait for renderer");
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Forks a child that runs `body` and exits; it dies with us if we die first.
pub fn fork_child(body: impl FnOnce()) -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only runs `body` (reads, writes, atomics) and `_exit`s;
    // it never returns into the parent's state.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // A parent that died before the prctl sent no signal.
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != parent {
            // SAFETY: leave at once, running nothing of the parent's.
            unsafe { libc::_exit(0) };
        }
        body();
        // SAFETY: leave without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// A forked child that only burns a CPU, killed and reaped on drop.
pub struct BusyLoop(libc::pid_t);

impl BusyLoop {
    pub fn start() -> BusyLoop {
        BusyLoop(fork_child(|| {
            let mut x = 1u64;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }))
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
        reap(self.0);
    }
}

/// A fresh zeroed mapping of `len` bytes that a forked child shares.
pub fn map_shared(len: usize) -> *mut libc::c_void {
    // SAFETY: a fresh shared anonymous mapping; nothing aliases it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "mmap of {len} bytes");
    base
}

pub fn reap(pid: libc::pid_t) {
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

/// How a floor's child polls: a spin, except that after a millisecond
/// without work it sleeps 100 µs between polls, so that between its blocks
/// it does not steal a core from the others'.
pub struct IdlePoll {
    polls: u32,
    idle_since: Instant,
}

impl Default for IdlePoll {
    fn default() -> IdlePoll {
        IdlePoll {
            polls: 0,
            idle_since: Instant::now(),
        }
    }
}

impl IdlePoll {
    /// A poll found work.
    pub fn work(&mut self) {
        self.polls = 0;
    }

    /// A poll found nothing: spin, or after a while sleep.
    pub fn nothing(&mut self) {
        self.polls += 1;
        if self.polls == 1 {
            self.idle_since = Instant::now();
        } else if self.polls % 1024 == 0 && self.idle_since.elapsed() > Duration::from_millis(1) {
            std::thread::sleep(Duration::from_micros(100));
        }
        std::hint::spin_loop();
    }
}

/// A forked child that answers every odd value on one shared cache line with
/// the next even one: the cheapest possible cross-process round trip.
pub struct SpinPingPong {
    line: *const AtomicU64,
    next: u64,
    child: libc::pid_t,
}

const STOP: u64 = u64::MAX;

impl SpinPingPong {
    pub fn start() -> SpinPingPong {
        let page = map_shared(4096);
        let line = page as *const AtomicU64;
        let addr = line as usize;
        let child = fork_child(move || {
            // SAFETY: the page is mapped in the child too, zero-initialised.
            let word = unsafe { &*(addr as *const AtomicU64) };
            let mut idle = IdlePoll::default();
            loop {
                let v = word.load(Ordering::Acquire);
                if v == STOP {
                    return;
                }
                if v % 2 == 1 {
                    word.store(v + 1, Ordering::Release);
                    idle.work();
                    continue;
                }
                idle.nothing();
            }
        });
        SpinPingPong {
            line,
            next: 1,
            child,
        }
    }
}

impl SpinPingPong {
    /// One round trip: write an odd value, spin until the child answers.
    pub fn round_trip(&mut self) {
        // SAFETY: the page stays mapped until `drop`.
        let word = unsafe { &*self.line };
        let v = self.next;
        word.store(v, Ordering::Release);
        while word.load(Ordering::Acquire) != v + 1 {
            std::hint::spin_loop();
        }
        self.next = v + 2;
    }
}

impl Drop for SpinPingPong {
    fn drop(&mut self) {
        // SAFETY: the page is still mapped; the child exits when it reads STOP.
        unsafe { &*self.line }.store(STOP, Ordering::Release);
        reap(self.child);
        // SAFETY: unmapping our own page, which nobody uses any more.
        unsafe { libc::munmap(self.line as *mut libc::c_void, 4096) };
    }
}

/// The floor of ringipc's own layout: a forked child echoes records through
/// two rings, one each way, as a `send_sync` of 16 bytes on a 4-byte channel
/// moves them (48-byte records, 8-aligned, so most straddle two cache lines;
/// the commit word stored last, the next one zeroed first, the body copied
/// out after the commit is seen), with no software around them. What a
/// round trip costs here beyond [`SpinPingPong`] is the price of the rings
/// themselves: the writer must take each line from a reader that polls it.
pub struct SpinRingPingPong {
    base: *mut u8,
    sent: u64,
    child: libc::pid_t,
}

/// Bytes of one record: an echo of 16 bytes on "echo" in ringipc's format.
const RECORD: usize = 48;
/// A multiple of [`RECORD`], so that no record wraps; about ringipc's 256 KiB.
const RING_BYTES: usize = RECORD * 5461;
/// Offsets in the mapping: a stop word on its own page, then the two rings.
const TO_CHILD: usize = 4096;
const TO_PARENT: usize = TO_CHILD + RING_BYTES + 4096;
const MAPPED: usize = TO_PARENT + RING_BYTES + 4096;

/// The commit word of the record at position `pos` of the ring at `ring`.
fn commit_word(base: usize, ring: usize, pos: u64) -> &'static AtomicU64 {
    let at = base + ring + (pos as usize % RING_BYTES);
    // SAFETY: 8-aligned (records are) and inside the mapping, which lives as
    // long as both processes use it.
    unsafe { &*(at as *const AtomicU64) }
}

/// Writes a record at `pos`: body, then the next commit word zeroed, then
/// its own commit word (Release).
fn put_record(base: usize, ring: usize, pos: u64, body: &[u8; RECORD - 8]) {
    let at = base + ring + (pos as usize % RING_BYTES);
    // SAFETY: the record lies inside the ring (no wrap, see RING_BYTES), and
    // the reader does not read it before its commit word says so.
    unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), (at + 8) as *mut u8, body.len()) };
    commit_word(base, ring, pos + RECORD as u64).store(0, Ordering::Relaxed);
    commit_word(base, ring, pos).store(pos + 1, Ordering::Release);
}

/// Waits for the record at `pos` and copies its body out; `None` on stop.
/// The child polls as [`IdlePoll`] says; the measuring parent (`idle`
/// `None`) only spins, as [`SpinPingPong::round_trip`] does.
fn take_record(
    base: usize,
    ring: usize,
    pos: u64,
    stop: &AtomicU64,
    mut idle: Option<&mut IdlePoll>,
) -> Option<[u8; RECORD - 8]> {
    let word = commit_word(base, ring, pos);
    while word.load(Ordering::Acquire) != pos + 1 {
        if stop.load(Ordering::Relaxed) != 0 {
            return None;
        }
        match idle.as_deref_mut() {
            Some(idle) => idle.nothing(),
            None => std::hint::spin_loop(),
        }
    }
    if let Some(idle) = idle {
        idle.work();
    }
    let mut body = [0u8; RECORD - 8];
    let at = base + ring + (pos as usize % RING_BYTES) + 8;
    // SAFETY: committed, so the writer is done with these bytes.
    unsafe { std::ptr::copy_nonoverlapping(at as *const u8, body.as_mut_ptr(), body.len()) };
    Some(body)
}

impl SpinRingPingPong {
    pub fn start() -> SpinRingPingPong {
        let base = map_shared(MAPPED) as *mut u8;
        let addr = base as usize;
        let child = fork_child(move || {
            // SAFETY: the mapping is inherited, zero-initialised.
            let stop = unsafe { &*(addr as *const AtomicU64) };
            let mut pos = 0;
            let mut idle = IdlePoll::default();
            while let Some(body) = take_record(addr, TO_CHILD, pos, stop, Some(&mut idle)) {
                put_record(addr, TO_PARENT, pos, &body);
                pos += RECORD as u64;
            }
        });
        SpinRingPingPong {
            base,
            sent: 0,
            child,
        }
    }

    /// One round trip: a record out, the echoed record back.
    pub fn round_trip(&mut self) {
        let base = self.base as usize;
        let body = [0x5A; RECORD - 8];
        put_record(base, TO_CHILD, self.sent, &body);
        // SAFETY: the stop word, mapped until `drop`.
        let never = unsafe { &*(base as *const AtomicU64) };
        let echoed = take_record(base, TO_PARENT, self.sent, never, None).expect("we never stop");
        std::hint::black_box(echoed);
        self.sent += RECORD as u64;
    }
}

impl Drop for SpinRingPingPong {
    fn drop(&mut self) {
        // SAFETY: the stop word; the child exits when it sees it.
        unsafe { &*(self.base as *const AtomicU64) }.store(1, Ordering::Release);
        reap(self.child);
        // SAFETY: unmapping our own mapping, which nobody uses any more.
        unsafe { libc::munmap(self.base.cast(), MAPPED) };
    }
}

/// The floor of a one-way stream of `message`-byte messages between two
/// processes: a forked child reads `count` of them through a shared ring of
/// `ring` bytes in pieces of `piece` bytes, copying each piece out into its
/// message buffer, while this process copies them in. The same two copies
/// across cores that a ringipc stream makes, with no protocol around them.
/// Returns the time until the child has read the last byte.
pub fn raw_stream(message: usize, count: usize, ring: usize, piece: usize) -> Duration {
    assert!(ring % piece == 0 && message % piece == 0);
    const HEADER: usize = 256;
    let len = HEADER + ring;
    let base = map_shared(len) as usize;
    // Written bytes, read bytes: each on its own cache line.
    // SAFETY: inside the zeroed mapping, 8-aligned, only used atomically.
    let written = unsafe { &*((base) as *const AtomicU64) };
    // SAFETY: as above, 128 bytes further.
    let read = unsafe { &*((base + 128) as *const AtomicU64) };
    let data = base + HEADER;
    let total = (message * count) as u64;
    // Allocated before the fork: the child of a threaded process must not.
    let mut into = vec![0u8; message];
    let child = fork_child(move || {
        let mut at = 0u64;
        while at < total {
            // SYNC(written): Acquire ← Release below.
            while written.load(Ordering::Acquire) < at + piece as u64 {
                std::hint::spin_loop();
            }
            let slot = (at as usize) % ring;
            let off = (at as usize) % message;
            // SAFETY: the piece lies inside the ring, published by the writer.
            let src = unsafe { std::slice::from_raw_parts((data + slot) as *const u8, piece) };
            into[off..off + piece].copy_from_slice(src);
            black_box(&mut into);
            at += piece as u64;
            // SYNC(read): Release → Acquire below.
            read.store(at, Ordering::Release);
        }
    });
    let payload = vec![0x5Au8; message];
    let start = Instant::now();
    let mut at = 0u64;
    while at < total {
        // SYNC(read): Acquire ← Release above.
        while at + piece as u64 - read.load(Ordering::Acquire) > ring as u64 {
            std::hint::spin_loop();
        }
        let slot = (at as usize) % ring;
        let off = (at as usize) % message;
        // SAFETY: the reader is done with this piece of the ring.
        let dst = unsafe { std::slice::from_raw_parts_mut((data + slot) as *mut u8, piece) };
        dst.copy_from_slice(&payload[off..off + piece]);
        at += piece as u64;
        // SYNC(written): Release → Acquire above.
        written.store(at, Ordering::Release);
    }
    while read.load(Ordering::Acquire) < total {
        std::hint::spin_loop();
    }
    let took = start.elapsed();
    reap(child);
    // SAFETY: unmapping our own mapping; the child is gone.
    unsafe { libc::munmap(base as *mut libc::c_void, len) };
    took
}

/// A request to main's blaster thread: send `count` messages of `len` bytes.
struct Blast {
    to: WebContents,
    count: u64,
    len: usize,
}

/// Largest message a blast sends.
pub const MAX_BLAST_LEN: usize = 1 << 20;

/// Main's half of a main → renderer rate measurement: a `blast` listener
/// that hands the order to a thread, which sends the messages on `blasted`
/// as fast as the renderer takes them ([`WebContents::send_blocking`]: the
/// sender writes into the ring itself as room appears, and main's outbox
/// stays empty).
pub fn serve_blasts(ipc: &IpcMain) {
    let (tx, rx) = mpsc::channel::<Blast>();
    std::thread::spawn(move || {
        let payload = vec![0xA5u8; MAX_BLAST_LEN];
        for Blast { to, count, len } in rx {
            for _ in 0..count {
                let sent = to.send_blocking("blasted", &payload[..len], Duration::from_secs(60));
                if sent.is_err() {
                    return;
                }
            }
        }
    });
    let tx = std::sync::Mutex::new(tx);
    ipc.on("blast", move |event, arg| {
        let count = u64::from_le_bytes(arg[..8].try_into().expect("count"));
        let len = u64::from_le_bytes(arg[8..16].try_into().expect("len")) as usize;
        let to = event.sender().clone();
        tx.lock()
            .unwrap()
            .send(Blast { to, count, len })
            .expect("blaster");
    })
    .expect("listen");
}

/// Longest a blast may take before the bench fails instead of waiting on.
const BLAST_PATIENCE: Duration = Duration::from_secs(120);

/// The renderer's half: counts `blasted` messages and times blasts.
pub struct BlastCounter {
    received: Arc<AtomicU64>,
    target: Arc<AtomicU64>,
}

impl BlastCounter {
    /// Registers the counting listener. Blasts must then be timed from the
    /// thread that called this: the listener wakes it when a blast is in.
    pub fn install(ipc: &IpcRenderer) -> BlastCounter {
        let received = Arc::new(AtomicU64::new(0));
        let target = Arc::new(AtomicU64::new(u64::MAX));
        let (r, t, me) = (received.clone(), target.clone(), std::thread::current());
        ipc.on("blasted", move |_, arg| {
            black_box(arg);
            if r.fetch_add(1, Ordering::Release) + 1 == t.load(Ordering::Relaxed) {
                me.unpark();
            }
        })
        .expect("listen");
        BlastCounter { received, target }
    }

    /// Asks main for `count` messages of `len` bytes; returns the time until
    /// the listener counted the last one. The waiting thread sleeps, so that
    /// it does not compete for a core with the threads doing the work. The
    /// order goes as a message: a `send_sync` whose answer came behind the
    /// first messages of the blast would drain them into the inbox itself,
    /// a copy and an allocation each, and the figure would measure that.
    pub fn blast(&self, ipc: &IpcRenderer, count: u64, len: usize) -> Duration {
        assert!(len <= MAX_BLAST_LEN);
        let until = self.received.load(Ordering::Acquire) + count;
        self.target.store(until, Ordering::Relaxed);
        let mut order = [0u8; 16];
        order[..8].copy_from_slice(&count.to_le_bytes());
        order[8..].copy_from_slice(&(len as u64).to_le_bytes());
        let start = Instant::now();
        ipc.send("blast", order).expect("blast");
        while self.received.load(Ordering::Acquire) < until {
            // A message has no answer to fail with: a main without the
            // listener, or a blaster that gave up, shows as a blast that
            // never ends.
            assert!(start.elapsed() < BLAST_PATIENCE, "the blast did not arrive");
            std::thread::park_timeout(Duration::from_millis(1));
        }
        start.elapsed()
    }
}

/// Main's half of a renderer → main rate measurement: `count` counts
/// messages, and the sync call `counted` returns (and resets) the count.
pub fn serve_counting(ipc: &IpcMain) {
    let counted = Arc::new(AtomicU64::new(0));
    let c = counted.clone();
    ipc.on("count", move |_, arg| {
        c.fetch_add(1, Ordering::Relaxed);
        black_box(arg);
    })
    .expect("listen");
    ipc.on("counted", move |event, _| {
        event.set_return_value(counted.swap(0, Ordering::Relaxed).to_le_bytes());
    })
    .expect("listen");
}

/// The renderer's half: sends `count` messages of `payload` and returns the
/// time until main's listener has counted them all. The closing `counted`
/// call is answered only after every earlier message (one ring, one order).
pub fn send_counted(ipc: &IpcRenderer, count: u64, payload: &[u8]) -> Duration {
    let start = Instant::now();
    for _ in 0..count {
        ipc.send("count", payload).expect("send");
    }
    let counted = ipc.send_sync("counted", []).expect("counted");
    let elapsed = start.elapsed();
    assert_eq!(u64::from_le_bytes(counted.try_into().unwrap()), count);
    elapsed
}
