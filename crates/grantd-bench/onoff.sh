#!/usr/bin/env bash
# Issue 15's throughput check: metrics and audit both OFF vs both ON, alternating, SQLite and
# Postgres, 64 connections, one table row per run (release build first: just bench-build).
# Usage: crates/grantd-bench/onoff.sh [PAIRS] [file|stdout]
#   file (default): the audit stream to audit.jsonl in the scenario's folder;
#   stdout: to the server's stdout (the `serve` default), which bench.py discards.
set -euo pipefail
PAIRS=${1:-4}; SINK=${2:-file}
cd "$(dirname "$0")/../.."
OFF=(--env GRANTD_METRICS__ENABLED=false --env GRANTD_AUDIT__OUTPUT=off)
case $SINK in
    file) ON=(--env GRANTD_METRICS__ENABLED=true --env GRANTD_AUDIT__OUTPUT=file --env GRANTD_AUDIT__FILE=audit.jsonl) ;;
    stdout) ON=(--env GRANTD_METRICS__ENABLED=true --env GRANTD_AUDIT__OUTPUT=stdout) ;;
    *) echo "onoff.sh: the sink is file or stdout, not $SINK" >&2; exit 2 ;;
esac
for i in $(seq "$PAIRS"); do
    for arm in off on; do
        if [ "$arm" = off ]; then E=("${OFF[@]}"); else E=("${ON[@]}"); fi
        python3 crates/grantd-bench/bench.py --no-append --duration 8 \
            --scenario sqlite-es256-64 --scenario pg-es256-64 "${E[@]}" 2>/dev/null |
            grep -E "^\| (sqlite|pg)-es256-64" | sed "s/^/pair $i $arm /"
    done
done
