#!/usr/bin/env bash
# The whole test suite, with its set-up: makes sure a Postgres server is reachable (starting the
# local cluster if it is installed and stopped), then runs every test of the workspace against
# it and against temporary SQLite files. Fails loudly when Postgres cannot be reached: tests
# that need it are never skipped. tests/openapi.rs installs schemathesis from PyPI on first use
# (needs python3 with pip and network access once) and fails loudly when it cannot.
#
#   TEST_DATABASE_URL   base URL of a Postgres server whose user may CREATE DATABASE
#                       (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_reachable() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$TEST_DATABASE_URL" >/dev/null 2>&1
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) >/dev/null 2>&1
  fi
}

if ! pg_reachable; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
      echo "tests/run.sh: starting the local PostgreSQL $version cluster" >&2
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 30); do
      pg_reachable && break
      sleep 1
    done
  fi
fi
if ! pg_reachable; then
  echo "tests/run.sh: FAILED: no PostgreSQL server at $TEST_DATABASE_URL." >&2
  echo "Install and start one (Debian: apt-get install postgresql) or set TEST_DATABASE_URL." >&2
  exit 1
fi

cargo test --workspace --locked "$@"
