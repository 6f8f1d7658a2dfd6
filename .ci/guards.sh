#!/usr/bin/env bash
# Layer guards: prove with `cargo tree` that the inner crates pull in nothing they must not.
# The domain depends on std alone; ports and app know no database, HTTP or JWT library.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
in_lockfile() { grep -qx "name = \"$1\"" Cargo.lock; }

forbid() { # crate, dependency: `cargo tree -i` prints the paths from $1 to $2, if any
  local paths err
  # A guard that cannot run must fail: both names must exist in the lock file, or a misspelt
  # name would pass silently (cargo tree answers "did not match" for a typo and for a crate
  # that is simply not in $1's graph alike).
  for name in "$1" "$2"; do
    if ! in_lockfile "$name"; then
      echo "layer guard broken: no package \"$name\" in Cargo.lock (misspelt?)" >&2
      exit 2
    fi
  done
  err=$(mktemp)
  if paths=$(cargo tree -q -p "$1" -e normal -i "$2" 2>"$err"); then
    :
  elif grep -q "did not match any packages" "$err"; then
    paths="" # $2 is not in $1's dependency graph: the guard holds
  else
    echo "layer guard broken: cargo tree -p $1 -i $2 failed:" >&2
    cat "$err" >&2
    rm -f "$err"
    exit 2
  fi
  rm -f "$err"
  if [ -n "$paths" ]; then
    echo "layer violation: $1 depends on $2:" >&2
    echo "$paths" >&2
    fail=1
  fi
}

# grantd-domain: no dependencies at all (normal edges).
deps=$(cargo tree -q -p grantd-domain -e normal --prefix none --depth 1 | sed 1d | sort -u)
if [ -n "$deps" ]; then
  echo "layer violation: grantd-domain has dependencies:" >&2
  echo "$deps" >&2
  fail=1
fi

for crate in grantd-ports grantd-app; do
  for dep in diesel diesel-async actix-web actix-http jsonwebtoken tokio-postgres libsqlite3-sys serde tokio aws-lc-rs metrics metrics-exporter-prometheus; do
    forbid "$crate" "$dep"
  done
done
for crate in grantd-store grantd-jwt; do
  for dep in actix-web actix-http grantd-app grantd-api; do
    forbid "$crate" "$dep"
  done
done
forbid grantd-store jsonwebtoken
forbid grantd-jwt diesel
# Outbound HTTP lives in grantd-jwks alone (a client's jwks_uri); it reaches no database,
# server framework or use case.
forbid grantd-jwt reqwest
forbid grantd-store reqwest
forbid grantd-api reqwest
for dep in actix-web actix-http diesel diesel-async grantd-app grantd-api grantd-store; do
  forbid grantd-jwks "$dep"
done
for dep in diesel diesel-async jsonwebtoken grantd-store grantd-jwt; do
  forbid grantd-api "$dep"
done
# grantd-fakes: in-memory port implementations for tests, benchmarks and fuzz targets. An
# adapter-level crate (ports and domain only, no database, HTTP or JWT library), and a
# dev-dependency only: no crate's normal dependencies reach it.
for dep in actix-web actix-http diesel diesel-async jsonwebtoken tokio-postgres libsqlite3-sys aws-lc-rs grantd-app grantd-api grantd-store grantd-jwt; do
  forbid grantd-fakes "$dep"
done
for crate in grantd grantd-api grantd-app grantd-store grantd-jwt grantd-jwks; do
  forbid "$crate" grantd-fakes
done

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "layer guards: ok"
