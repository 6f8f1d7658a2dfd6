#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a set time over its committed seed corpus.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#   FUZZ_PROFILE=dev    debug build: compiles faster, runs ~5-10x slower (CI). Only grantd's
#                       crates and the targets are instrumented (through fuzz/rustc-cov.sh),
#                       for the host, with the test build's profile, so with CARGO_TARGET_DIR
#                       at the workspace's target/ every other crate is reused from the tests
#   CARGO_TARGET_DIR    where to build (default fuzz/target)
#
# The build is what `cargo fuzz build -s none` does (libFuzzer through libfuzzer-sys, SanitizerCoverage
# flags, `--cfg fuzzing`), done with plain cargo so CI needs no `cargo install cargo-fuzz`;
# `cargo fuzz run -s none --fuzz-dir fuzz TARGET` works as well. No sanitizer: ASan needs
# `-Zsanitizer` (nightly, or RUSTC_BOOTSTRAP=1 on stable 1.95), and every crate here forbids
# `unsafe`, so a panic (debug assertions and overflow checks included) is what a finding is.
#
# New inputs go to a scratch corpus; the seeds in fuzz/corpus/TARGET are only read. A crash is
# saved under fuzz/artifacts/TARGET/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(form basic jwt_verify config)
fi

triple="$(rustc -vV | sed -n 's/^host: //p')"
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
flags+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
build_start=$(date +%s)
if [ "${FUZZ_PROFILE:-release}" = dev ]; then
  # The wrapper adds the flags to grantd's crates only; no --target, no RUSTFLAGS, so the
  # other crates' fingerprints are the test build's.
  bin_dir="$target_dir/debug"
  GRANTD_FUZZ_FLAGS="$flags" RUSTC_WRAPPER="$PWD/rustc-cov.sh" \
    cargo build --locked --manifest-path Cargo.toml --target-dir "$target_dir" --bins
else
  bin_dir="$target_dir/$triple/release"
  RUSTFLAGS="$flags -Cdebug-assertions -Coverflow-checks -Ccodegen-units=1" \
    cargo build --locked --manifest-path Cargo.toml --target "$triple" \
    --target-dir "$target_dir" --release \
    --config 'profile.release.debug="line-tables-only"' --bins
fi
echo "fuzz: built in $(( $(date +%s) - build_start ))s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  [ -d "corpus/$t" ] || { echo "fuzz: no seed corpus corpus/$t" >&2; exit 2; }
  mkdir -p "$scratch/$t" "artifacts/$t"
  echo "== fuzz $t (${seconds}s)"
  "$bin_dir/$t" "$scratch/$t" "corpus/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"$scratch/$t.log" || {
      tail -n 60 "$scratch/$t.log" >&2
      echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
      exit 1
    }
  grep -E "^Done|stat::number_of_executed_units" "$scratch/$t.log" || true
done
