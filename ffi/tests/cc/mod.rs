//! Building C programs against the static library and the checked-in
//! header, for the tests and the bench.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a program linked with the static library needs besides it (from
/// `cargo rustc -p ringipc-ffi --crate-type staticlib -- --print native-static-libs`).
const NATIVE_LIBS: &[&str] = &["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"];

pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/deps/libringipc_ffi.a`, which cargo built for this
/// run beside the test or bench executable (it copies it up to
/// `target/<profile>` only for `cargo build`).
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("own executable");
    let deps = exe
        .parent()
        .expect("tests and benches run from target/<profile>/deps");
    let lib = deps.join("libringipc_ffi.a");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// Compiles `ffi/<source>` into `out_dir`, optimised, warnings as errors.
pub fn compile(source: &str, out_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(out_dir).expect("output directory");
    let name = Path::new(source).file_stem().expect("a file name");
    let out = out_dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O2"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join(source))
        .arg(library())
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "{source} did not compile");
    out
}
