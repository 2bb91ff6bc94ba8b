//! The checked-in header is what cbindgen makes of the crate now. Run with
//! RINGIPC_BLESS=1 to rewrite it after changing the API.

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen understands the crate")
        .write(&mut generated);
    let path = crate_dir.join("include/ringipc.h");
    if std::env::var("RINGIPC_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "ffi/include/ringipc.h is stale: run `RINGIPC_BLESS=1 cargo test -p ringipc-ffi --test header` and commit it"
    );
}
