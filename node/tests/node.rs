//! The Node.js module, driven from `cargo test`: the seed's two JavaScript
//! snippets run as written, and the module's own suite under node's
//! built-in test runner. Both use the addon this `cargo test` just built
//! (`RINGIPC_NODE_ADDON`), so they never test a stale build.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The seed's main-process snippet (`../shared/seed-ipc.md`), verbatim.
const SEED_MAIN: &str = r#"// In main process.
var ipc = require('ipc');
ipc.on('asynchronous-message', function(event, arg) {
  console.log(arg);  // prints "ping"
  event.sender.send('asynchronous-reply', 'pong');
});

ipc.on('synchronous-message', function(event, arg) {
  console.log(arg);  // prints "ping"
  event.returnValue = 'pong';
});
"#;

/// The seed's renderer snippet, verbatim.
const SEED_RENDERER: &str = r#"// In renderer process (web page).
var ipc = require('ipc');
console.log(ipc.sendSync('synchronous-message', 'ping')); // prints "pong"

ipc.on('asynchronous-reply', function(arg) {
  console.log(arg); // prints "pong"
});
ipc.send('asynchronous-message', 'ping');
"#;

const LIMIT: Duration = Duration::from_secs(60);
/// The whole node:test suite; a hung test is a failure, not a stuck CI.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The addon cargo built beside this test binary (`target/<profile>/deps`).
fn addon() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let addon = exe.parent().unwrap().join("libringipc_node.so");
    assert!(
        addon.exists(),
        "the addon {} was not built",
        addon.display()
    );
    addon
}

/// A process group that is killed (with every child it started) on drop.
struct Group(Child);

impl Group {
    fn spawn(command: &mut Command) -> Group {
        command.process_group(0);
        Group(command.spawn().expect("node runs (Node.js 20 is required)"))
    }

    /// Waits for the leader to exit, failing after `limit`.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "node still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.0.id() as libc::pid_t;
        // SAFETY: signals the group this test created and leads.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ringipc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The snippets above are the seed's, where the seed is at hand.
#[test]
fn the_snippets_are_the_seeds() {
    let seed = module_dir().join("../../shared/seed-ipc.md");
    let Ok(seed) = std::fs::read_to_string(seed) else {
        return; // a clone without the project's shared folder
    };
    let blocks: Vec<&str> = seed
        .split("```javascript\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks, [SEED_MAIN, SEED_RENDERER]);
}

/// The seed's JavaScript, main and renderer, run as two Node processes;
/// `require('ipc')` resolves to `node/ipc`, and one line of harness in main
/// spawns the renderer, as Electron opens a page.
#[test]
fn the_seed_runs_as_written() {
    let scratch = Scratch::new("seed");
    let dir = &scratch.0;
    std::fs::create_dir_all(dir.join("node_modules")).unwrap();
    std::os::unix::fs::symlink(module_dir().join("ipc"), dir.join("node_modules/ipc")).unwrap();
    let module = module_dir();
    let harness = format!(
        "require({module:?}).ipcMain.spawn(process.execPath, [__dirname + '/renderer.js'], \
         {{ stdio: ['ignore', require('fs').openSync(__dirname + '/renderer.out', 'w'), 'inherit'] }});\n",
        module = module.display().to_string()
    );
    std::fs::write(dir.join("main.js"), format!("{SEED_MAIN}{harness}")).unwrap();
    std::fs::write(dir.join("renderer.js"), SEED_RENDERER).unwrap();
    let mut main = Group::spawn(
        Command::new("node")
            .arg("main.js")
            .current_dir(dir)
            .env("RINGIPC_NODE_ADDON", addon())
            .stdout(Stdio::piped()),
    );
    let mut stdout = main.0.stdout.take().unwrap();
    // Main and its renderer live on (the renderer listens, as a page does):
    // read until both printed their two lines, then the group is killed.
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while seen.iter().filter(|&&b| b == b'\n').count() < 2 {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let start = Instant::now();
    let renderer_out = dir.join("renderer.out");
    let renderer = loop {
        let printed = std::fs::read_to_string(&renderer_out).unwrap_or_default();
        if printed.lines().count() >= 2 || start.elapsed() > LIMIT {
            break printed;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while !reader.is_finished() && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(main);
    let main_out = reader.join().unwrap();
    println!("main printed:\n{main_out}renderer printed:\n{renderer}");
    assert_eq!(main_out, "ping\nping\n");
    assert_eq!(renderer, "pong\npong\n");
}

/// `node --test` over `node/test/*.test.js`: the module's behaviour, after
/// Electron's own ipc specs.
#[test]
fn the_node_suite_passes() {
    let test_dir = module_dir().join("test");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&test_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests in {}", test_dir.display());
    let mut suite = Group::spawn(
        Command::new("node")
            .args(["--test", "--test-reporter=spec"])
            .args(&files)
            .current_dir(module_dir())
            .env("RINGIPC_NODE_ADDON", addon()),
    );
    let status = suite.wait(SUITE_LIMIT);
    assert!(status.success(), "node --test failed: {status}");
}
