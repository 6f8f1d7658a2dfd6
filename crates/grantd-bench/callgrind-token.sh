#!/usr/bin/env bash
# Instructions per bearer token request (SQLite, ES256, Basic secret) under callgrind.
# Usage: crates/grantd-bench/callgrind-token.sh /ABSOLUTE/OUT_PREFIX SECONDS [GRANTD_X=V ...]
# (release build first: just bench-build). Prints instructions per token request as JSON.
# Example (issue 15): ... /tmp/off 20 GRANTD_METRICS__ENABLED=false GRANTD_AUDIT__OUTPUT=off
set -euo pipefail
OUT=$1; SECS=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/target/release/grantd; LG=$ROOT/target/release/loadgen
DIR=$(mktemp -d)
export GRANTD_DATABASE__URL="sqlite://$DIR/grantd.db"
export GRANTD_MASTER_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
export GRANTD_SIGNING__ALGORITHM=ES256 GRANTD_SERVER__BIND=127.0.0.1:0 GRANTD_ADMIN__BIND=127.0.0.1:0
export GRANTD_LOG=warn,grantd::serve=info
for kv in "$@"; do export "$kv"; done
cd "$DIR"
uid=$("$BIN" --json user create --name b --email b@example.com --role admin | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
python3 - "$BIN" "$uid" <<'PY'
import json, subprocess, sys
bin, uid = sys.argv[1], sys.argv[2]
out = []
for i in range(16):
    c = json.loads(subprocess.run([bin, "--json", "client", "create", "--name", f"b{i}", "--owner", uid, "--scope", "service mcp admin"], check=True, capture_output=True, text=True).stdout)
    out.append({"client_id": c["client_id"], "client_secret": c["client_secret"]})
json.dump(out, open("clients.json", "w"))
PY
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT.callgrind" "$BIN" serve > /dev/null 2> server.err &
VPID=$!
for _ in $(seq 600); do grep -q "grantd listening on" server.err 2>/dev/null && break; sleep 0.1; done
ADDR=$(grep -o "listening on http://[0-9.:]*" server.err | head -1 | sed 's#.*http://##')
"$LG" --addr "$ADDR" --clients clients.json --connections 8 --warmup 0 --duration 5 > warm.json
callgrind_control -i on "$VPID" > /dev/null
"$LG" --addr "$ADDR" --clients clients.json --connections 8 --warmup 0 --duration "$SECS" > "$OUT.json"
sleep 1
callgrind_control -i off "$VPID" > /dev/null
callgrind_control -d "$VPID" > /dev/null
kill -TERM "$VPID"; wait "$VPID" || true
wc -l audit.jsonl 2>/dev/null || true
python3 - "$OUT" <<'PY'
import json, sys, glob
out = sys.argv[1]
r = json.load(open(out + ".json"))
total = 0
for f in glob.glob(out + ".callgrind*"):
    for line in open(f):
        if line.startswith("summary:") or line.startswith("totals:"):
            total = max(total, int(line.split()[1]))
n = sum(r["status"].values()) if isinstance(r.get("status"), dict) else r.get("ok_all")
print(json.dumps({"requests": n, "ok": r.get("ok_all"), "status": r.get("status"), "instructions": total, "per_request": total / max(n or 1, 1)}))
PY
rm -rf "$DIR"
