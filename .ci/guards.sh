#!/usr/bin/env bash
# Layer guards: prove with `cargo tree` that the inner crates pull in nothing they must not.
# The domain depends on std alone; ports and app know no database, HTTP or JWT library.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
forbid() { # crate, dependency: `cargo tree -i` prints the paths from $1 to $2, if any
  local paths
  paths=$(cargo tree -q -p "$1" -e normal -i "$2" 2>/dev/null || true)
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
  for dep in diesel diesel-async actix-web actix-http jsonwebtoken tokio-postgres libsqlite3-sys serde tokio aws-lc-rs; do
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
for dep in diesel diesel-async jsonwebtoken grantd-store grantd-jwt; do
  forbid grantd-api "$dep"
done

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "layer guards: ok"
