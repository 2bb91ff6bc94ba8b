#!/usr/bin/env bash
# Builds the fuzz targets with the stable toolchain and plain cargo (no
# cargo-fuzz, no nightly): libFuzzer comes from libfuzzer-sys, coverage from
# LLVM's sanitizer-coverage pass, all through stable -C flags. Then runs each
# target briefly from the seed corpus. Usage: fuzz/smoke.sh [seconds per target]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
host=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps these flags off build scripts, which are not linked with libFuzzer.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  -Cdebug-assertions -Coverflow-checks" \
  cargo build --release --target "$host" --bins
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in request_ring reply_ring call_line; do
  mkdir -p "$scratch/$target"
  # New inputs go to the scratch directory; the committed seeds are only read.
  "target/$host/release/$target" "$scratch/$target" "corpus/$target" \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | tail -n 12
done
