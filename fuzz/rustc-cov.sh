#!/usr/bin/env bash
# rustc wrapper for fuzz/run.sh's CI mode: adds libFuzzer's coverage instrumentation to grantd's
# own crates and the fuzz targets only. Every other crate is compiled exactly as the test build
# compiles it, so cargo finds it already built in target/ (aws-lc, actix, diesel, ...) instead
# of building the whole graph again with instrumentation. The parsers under test are in
# grantd's crates, so coverage guidance stays where the findings would be.
#   $1 is rustc; CARGO_PKG_NAME names the package being compiled (build scripts excluded).
rustc="$1"
shift
case "${CARGO_PKG_NAME:-}" in
  grantd-*)
    case " $* " in
      *" --crate-name build_script_build "*) ;;
      *) set -- "$@" $GRANTD_FUZZ_FLAGS ;;
    esac
    ;;
esac
exec "$rustc" "$@"
