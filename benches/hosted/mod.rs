//! The comparison's hosted variants: main driven by its host rather than by
//! its own dispatcher thread — a `dispatch` loop, an epoll loop on main's
//! descriptor, and (feature `tokio`) tokio — each beside the threaded main,
//! hot and cold, the threaded main and the epoll host again with idle
//! renderers beside the measuring one, plus the idle CPU of a hosted main
//! with 64 renderers.
//!
//! Each variant is a fresh main in the bench's main process, driven by a
//! thread of its own, with one renderer (this binary again, under
//! [`ROLE`]) that measures and prints one line for main to collect.

use hdrhistogram::Histogram;
use ringipc::{Config, Error, IpcMain, IpcRenderer};
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a renderer of a hosted variant; `idle` for the idle ones.
pub const ROLE: &str = "RINGIPC_COMPARE_HOSTED";
const HOT: usize = 20_000;
const COLD: usize = 100;
const COLD_GAP: Duration = Duration::from_millis(3);
const IDLE_RENDERERS: usize = 64;
/// Silent renderers beside the measuring one in the threaded main's crowded
/// variant (the epoll host's has all but one of [`IDLE_RENDERERS`]).
const COMPANIONS: usize = 7;

/// How main's dispatch runs.
#[derive(Clone, Copy, Debug)]
enum Driver {
    /// Its own dispatcher thread (the default).
    Thread,
    /// A host thread calling `dispatch(50 ms)` in a loop.
    DispatchLoop,
    /// A host thread in `epoll_wait` on main's descriptor, then
    /// `dispatch(ZERO)` until it reports nothing.
    Epoll,
    /// A current-thread tokio runtime: `AsyncMain::serve`.
    #[cfg(feature = "tokio")]
    Tokio,
}

impl Driver {
    fn name(self) -> &'static str {
        match self {
            Driver::Thread => "main on its dispatcher thread",
            Driver::DispatchLoop => "main hosted: dispatch(50 ms) loop",
            Driver::Epoll => "main hosted: epoll on its descriptor",
            #[cfg(feature = "tokio")]
            Driver::Tokio => "main hosted: tokio AsyncMain",
        }
    }

    fn all() -> Vec<Driver> {
        let all = vec![Driver::Thread, Driver::DispatchLoop, Driver::Epoll];
        #[cfg(feature = "tokio")]
        let all = [all, vec![Driver::Tokio]].concat();
        all
    }
}

/// Starts what drives `ipc` (nothing for the threaded main); it ends once
/// main shuts down.
fn drive(ipc: &IpcMain, driver: Driver) -> Option<std::thread::JoinHandle<()>> {
    let ipc = ipc.clone();
    let body: Box<dyn FnOnce() + Send> = match driver {
        Driver::Thread => return None,
        Driver::DispatchLoop => Box::new(move || {
            while !matches!(
                ipc.dispatch(Duration::from_millis(50)),
                Err(Error::Disconnected)
            ) {}
        }),
        Driver::Epoll => Box::new(move || epoll_host(&ipc)),
        #[cfg(feature = "tokio")]
        Driver::Tokio => Box::new(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let main = ringipc::async_io::AsyncMain::new(ipc).expect("register");
                main.serve().await.expect("serve");
            });
        }),
    };
    Some(std::thread::spawn(body))
}

/// A host's epoll loop on main's descriptor.
fn epoll_host(ipc: &IpcMain) {
    // SAFETY: creating an epoll set has no preconditions.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0,
    };
    // SAFETY: registers main's live descriptor with a live event.
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, ipc.as_raw_fd(), &mut ev) };
    'host: loop {
        loop {
            match ipc.dispatch(Duration::ZERO) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => break 'host,
            }
        }
        let mut out = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one live event to fill.
        unsafe { libc::epoll_wait(ep, &mut out, 1, -1) };
    }
    // SAFETY: closes the descriptor created above.
    unsafe { libc::close(ep) };
}

fn hosted_main(driver: Driver) -> IpcMain {
    let config = Config::default().dispatcher_thread(matches!(driver, Driver::Thread));
    let ipc = IpcMain::with_config(config).expect("start main");
    ipc.on("echo", |event, arg| {
        event.set_return_value(arg);
    })
    .expect("listen");
    ipc
}

fn renderer_command(role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.env(ROLE, role).stdout(Stdio::piped());
    cmd
}

/// The bench's main: every variant in turn, then the idle CPU; prints both.
pub fn run_all() {
    println!();
    println!("main's drivers: 16-byte send_sync, {HOT} hot round trips, {COLD} cold ones");
    println!(
        "{:<52} {:>9} {:>9} {:>11} {:>11} {:>9}",
        "main", "p50 ns", "p99 ns", "cold p50", "cold p99", "p50/thread"
    );
    let mut thread_p50 = None;
    let variants = Driver::all().into_iter().map(|d| (d, 0));
    // A cold call's request may belong to a quiet renderer among many,
    // which main's first round after waking must not skip; that round
    // looks at all of them.
    let variants = variants.chain([
        (Driver::Thread, COMPANIONS),
        (Driver::Epoll, IDLE_RENDERERS - 1),
    ]);
    for (driver, companions) in variants {
        let ipc = hosted_main(driver);
        let driving = drive(&ipc, driver);
        let idle = spawn_idle(&ipc, companions);
        let (_, mut child) = ipc.spawn(&mut renderer_command("measure")).expect("spawn");
        let stdout = child.stdout.take().expect("piped");
        let line = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("HOSTED ").map(str::to_owned))
            .expect("the renderer's figures");
        assert!(child.wait().expect("reap").success());
        stop_idle(&ipc, idle);
        ipc.shutdown();
        if let Some(t) = driving {
            t.join().expect("driver");
        }
        let f: Vec<u64> = line
            .split(' ')
            .map(|v| v.parse().expect("number"))
            .collect();
        let base = *thread_p50.get_or_insert(f[0]);
        let name = match companions {
            0 => driver.name().to_owned(),
            n => format!("{}, {n} idle beside", driver.name()),
        };
        println!(
            "{:<52} {:>9} {:>9} {:>11} {:>11} {:>8.2}x",
            name,
            f[0],
            f[1],
            f[2],
            f[3],
            f[0] as f64 / base as f64
        );
    }
    idle_cpu();
}

/// A hosted main (epoll host) with 64 connected, silent renderers: its CPU
/// over two seconds once everyone settled.
fn idle_cpu() {
    let ipc = hosted_main(Driver::Epoll);
    let driving = drive(&ipc, Driver::Epoll);
    let children = spawn_idle(&ipc, IDLE_RENDERERS);
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, wall) = (cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let share = (cpu_time() - cpu).as_secs_f64() / wall.elapsed().as_secs_f64();
    println!(
        "idle CPU of a hosted main (epoll) with {IDLE_RENDERERS} renderers connected: {:.2}% of a core",
        share * 100.0
    );
    stop_idle(&ipc, children);
    ipc.shutdown();
    if let Some(t) = driving {
        t.join().expect("driver");
    }
}

/// `n` silent renderers of `ipc`, once all of them are connected.
fn spawn_idle(ipc: &IpcMain, n: usize) -> Vec<Child> {
    let children: Vec<_> = (0..n)
        .map(|_| ipc.spawn(&mut renderer_command("idle")).expect("spawn").1)
        .collect();
    let start = Instant::now();
    while ipc.renderers().len() < n && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    children
}

/// Tells every renderer of `ipc` to stop, and reaps `children`.
fn stop_idle(ipc: &IpcMain, mut children: Vec<Child>) {
    for r in ipc.renderers() {
        let _ = r.send("stop", b"");
    }
    for c in &mut children {
        let _ = c.wait();
    }
}

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: a valid out-pointer for one rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    // SAFETY: getrusage filled it.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Percentiles from 1 ns to a minute: `saturating_record` never resizes, so
/// the bounds must be set up front.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

/// A variant's renderer: `measure` prints `HOSTED p50 p99 cold-p50 cold-p99`
/// (nanoseconds); `idle` connects, then waits for main's "stop".
pub fn renderer(role: &str) {
    let ipc = IpcRenderer::from_env().expect("connect");
    if role == "idle" {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        ipc.on("stop", move |_, _| {
            let _ = tx.lock().map(|t| t.send(()));
        })
        .expect("listen");
        let _ = rx.recv();
        return;
    }
    let mut reply = Vec::with_capacity(64);
    let mut call = || {
        ipc.send_sync_into("echo", [0x5Au8; 16], &mut reply, None)
            .expect("send_sync")
    };
    let mut hot = histogram();
    for _ in 0..HOT / 10 {
        call();
    }
    for _ in 0..HOT {
        let t = Instant::now();
        call();
        hot.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let mut cold = histogram();
    for _ in 0..COLD {
        std::thread::sleep(COLD_GAP);
        let t = Instant::now();
        call();
        cold.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let q = |h: &Histogram<u64>, p| h.value_at_quantile(p);
    println!(
        "HOSTED {} {} {} {}",
        q(&hot, 0.5),
        q(&hot, 0.99),
        q(&cold, 0.5),
        q(&cold, 0.99)
    );
}
