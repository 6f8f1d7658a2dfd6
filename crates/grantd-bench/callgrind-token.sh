#!/usr/bin/env bash
# Instructions per token request (SQLite, ES256) under callgrind.
# Usage: [MODE=token|dpop|pkjwt] crates/grantd-bench/callgrind-token.sh /ABSOLUTE/OUT_PREFIX SECONDS [GRANTD_X=V ...]
# (release build first: just bench-build). Prints instructions per token request as JSON.
# MODE: token (default: bearer, Basic secret), dpop (Basic secret + an ES256 DPoP proof) or
# pkjwt (an ES256 private_key_jwt assertion, no secret); proofs and assertions are minted by
# loadgen before the run, as in `just bench`. With MODE dpop or pkjwt it also prints the
# instructions spent in aws-lc's ECDSA verification (the proof's or assertion's signature).
# Example (issue 15): ... /tmp/off 20 GRANTD_METRICS__ENABLED=false GRANTD_AUDIT__OUTPUT=off
set -euo pipefail
OUT=$1; SECS=$2; shift 2
MODE=${MODE:-token}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/target/release/grantd; LG=$ROOT/target/release/loadgen; KEYS=$ROOT/target/release/pkjwt-keys
DIR=$(mktemp -d)
export GRANTD_DATABASE__URL="sqlite://$DIR/grantd.db"
export GRANTD_MASTER_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
export GRANTD_SIGNING__ALGORITHM=ES256 GRANTD_SERVER__BIND=127.0.0.1:0 GRANTD_ADMIN__BIND=127.0.0.1:0
export GRANTD_LOG=warn,grantd::serve=info GRANTD_DPOP__MAX_AGE=10m
for kv in "$@"; do export "$kv"; done
cd "$DIR"
uid=$("$BIN" --json user create --name b --email b@example.com --role admin | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
python3 - "$BIN" "$uid" "$MODE" "$KEYS" <<'PY'
import json, subprocess, sys
bin, uid, mode, keys = sys.argv[1:5]
cli = lambda *a: json.loads(subprocess.run([bin, "--json", *a], check=True, capture_output=True, text=True).stdout)
out = []
if mode == "pkjwt":
    made = json.loads(subprocess.run([keys, "--count", "16", "--out", "."], check=True, capture_output=True, text=True).stdout)
    for i, k in enumerate(made):
        c = cli("client", "create", "--name", f"b{i}", "--owner", uid, "--scope", "service mcp admin",
                "--auth-method", "private_key_jwt", "--jwks-file", f"jwks-{i}.json")
        out.append({"client_id": c["client_id"], "kid": k["kid"], "private_key": k["private_key"]})
else:
    for i in range(16):
        c = cli("client", "create", "--name", f"b{i}", "--owner", uid, "--scope", "service mcp admin")
        out.append({"client_id": c["client_id"], "client_secret": c["client_secret"]})
json.dump(out, open("clients.json", "w"))
PY
LGARGS=(--clients clients.json --connections 8 --warmup 0 --mode "$MODE")
case $MODE in dpop | pkjwt) LGARGS+=(--minted 30000) ;; esac
[ "$MODE" = pkjwt ] && LGARGS+=(--assertion-lifetime 300)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT.callgrind" "$BIN" serve > /dev/null 2> server.err &
VPID=$!
for _ in $(seq 600); do grep -q "grantd listening on" server.err 2>/dev/null && break; sleep 0.1; done
ADDR=$(grep -o "listening on http://[0-9.:]*" server.err | head -1 | sed 's#.*http://##')
"$LG" --addr "$ADDR" "${LGARGS[@]}" --duration 5 > warm.json
callgrind_control -i on "$VPID" > /dev/null
"$LG" --addr "$ADDR" "${LGARGS[@]}" --duration "$SECS" > "$OUT.json"
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
if [ "$MODE" != token ]; then
    # Inclusive instructions of ECDSA verification (the only ECDSA verify on these paths is
    # the proof's or the assertion's signature); divide by the requests above.
    for f in "$OUT".callgrind*; do
        callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
            grep -E "ECDSA_do_verify|ecdsa_verify" | head -3 || true
    done
fi
rm -rf "$DIR"
