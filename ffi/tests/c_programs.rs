//! The C programs in `ffi/examples/`, built with the system C compiler
//! against the static library and the checked-in header, and run: the
//! seed's ping/pong, and the stress test natively and under valgrind.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod cc;

/// Compiles `ffi/examples/<name>.c` into the test's scratch directory,
/// once per run: tests running at once must not rewrite a program another
/// is starting.
fn compile(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(name.to_owned())
        .or_insert_with(|| {
            let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c");
            cc::compile(&format!("examples/{name}.c"), &out_dir)
        })
        .clone()
}

/// Kills a child's whole process group when dropped, on success too: a
/// renderer left behind by a program that exited is killed with it.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = -(self.0.id() as i32);
        // SAFETY: kill has no memory preconditions; the group is ours.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `command` to the end, or kills it after `limit`. It runs in a
/// process group of its own, which is killed whole on the way out, so that
/// no renderer outlives a failed test or holds its output pipes open.
fn run(command: &mut Command, limit: Duration) -> Ran {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start the program");
    let mut group = Group(child);
    let mut stdout = group.0.stdout.take().expect("piped");
    let mut stderr = group.0.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = group.0.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            panic!("{command:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the program left running goes before its output is read to
    // the end: a stray renderer would hold the pipes open.
    drop(group);
    Ran {
        status,
        stdout: out.join().expect("reader"),
        stderr: err.join().expect("reader"),
    }
}

#[test]
fn the_seeds_main_and_renderer_in_c_print_ping_pong() {
    let main = compile("seed_main");
    let renderer = compile("seed_renderer");
    let ran = run(Command::new(&main).arg(&renderer), Duration::from_secs(60));
    assert!(ran.status.success(), "seed_main: {}", ran.stderr);
    assert_eq!(ran.stdout, "ping\npong\nping\npong\n", "{}", ran.stderr);
}

#[test]
fn the_c_stress_test_passes() {
    let stress = compile("stress");
    let ran = run(
        Command::new(&stress).args(["6", "400"]),
        Duration::from_secs(120),
    );
    assert!(ran.status.success(), "stress: {}", ran.stderr);
    assert!(ran.stdout.contains(": ok"), "{}", ran.stdout);
}

#[test]
fn the_c_stress_test_is_clean_under_valgrind() {
    let found = Command::new("valgrind").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "this test needs valgrind (Debian's package `valgrind`; .ci/run installs it)"
    );
    let stress = compile("stress");
    let logs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("valgrind");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).expect("log directory");
    let ran = run(
        Command::new("valgrind")
            .args([
                "--trace-children=yes",
                // A forked child that fails to exec (the missing program
                // the stress test spawns) would report main's heap as its own.
                "--child-silent-after-fork=yes",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect,possible",
                "--errors-for-leak-kinds=definite,indirect,possible",
                "--error-exitcode=99",
            ])
            .arg(format!("--log-file={}/%p.log", logs.display()))
            .arg(&stress)
            .args(["4", "30"]),
        Duration::from_secs(600),
    );
    let mut summaries = Vec::new();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&logs).expect("logs") {
        let log = std::fs::read_to_string(entry.expect("log").path()).expect("log text");
        for line in log.lines() {
            if line.contains("ERROR SUMMARY") || line.contains("in use at exit") {
                summaries.push(line.to_owned());
            }
            let clean_summary = line.contains("ERROR SUMMARY: 0 errors");
            if (line.contains("ERROR SUMMARY") && !clean_summary)
                || line.contains("lost in loss record")
                || line.contains("Invalid ")
                || line.contains("uninitialised")
                || line.contains("unaddressable")
                || line.contains("Mismatched free")
                || line.contains("overlap")
            {
                problems.push(line.to_owned());
            }
        }
    }
    eprintln!("valgrind, {} processes:", summaries.len() / 2);
    for line in &summaries {
        eprintln!("  {line}");
    }
    assert!(
        ran.status.success(),
        "stress under valgrind exited {:?}: {}\n{}",
        ran.status,
        ran.stderr,
        problems.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Main and the 12 renderers that left on their own (3 a round; the one
    // killed in each round leaves no summary), two lines each.
    assert!(summaries.len() >= 2 * 13, "{summaries:?}");
}
