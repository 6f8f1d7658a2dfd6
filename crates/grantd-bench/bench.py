#!/usr/bin/env python3
"""grantd load benchmark: runs scenarios against a release `grantd serve` over loopback and
appends a markdown table to docs/benchmarks.md.

Each scenario: a fresh database (SQLite file or Postgres database), a server started with the
scenario's algorithm, a pool of clients created with the CLI, optionally N pre-seeded session
rows, then `loadgen` for T seconds with C keep-alive connections and Basic auth. After the run
the session rows are counted: new rows must equal the number of 200 responses (and the jti
column is unique, so every issued jti is unique). DPoP scenarios also resend 100 used proofs
after the run, and private_key_jwt (pkjwt) scenarios 100 used assertions: each must be refused
(replays accepted: 0).

pkjwt scenarios: the clients are created with `--auth-method private_key_jwt --jwks-file`, one
ES256 key each (made by `pkjwt-keys`), and loadgen mints one assertion per request before the
run (iss = sub = client id, aud = the server's issuer, unique jti, exp = iat + 300 s, the
server's default `[client_assertion] max_lifetime`) and sends it as client_assertion, no Basic
header.

With `--admin-load R`, an automation loop runs against the admin HTTP API on the admin listener
during the whole load (warm-up and measured window): R requests per second, alternating
`GET /admin/v1/clients` and `PATCH /admin/v1/clients/{id}` (a new name for one of the bench
clients, round-robin, so each PATCH also invalidates that client's cache entry), with an admin
token from `grantd admin bootstrap`. Its own success count and latency are printed after the
table. Compare with a run without it in the same sitting.

Usage: python3 crates/grantd-bench/bench.py [--quick] [--scenario NAME ...] [--duration S] [--admin-load R]
Environment: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILE = os.environ.get("BENCH_PROFILE", "release")
BIN = os.path.join(ROOT, "target", PROFILE, "grantd")
LOADGEN = os.path.join(ROOT, "target", PROFILE, "loadgen")
PKJWT_KEYS = os.path.join(ROOT, "target", PROFILE, "pkjwt-keys")
MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
PG_BASE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# name, backend, algorithm, connections, pre-seeded sessions, mode
SCENARIOS = [
    ("sqlite-es256-16", "sqlite", "ES256", 16, 0, "token"),
    ("sqlite-es256-64", "sqlite", "ES256", 64, 0, "token"),
    ("sqlite-eddsa-64", "sqlite", "EdDSA", 64, 0, "token"),
    ("pg-es256-16", "postgres", "ES256", 16, 0, "token"),
    ("pg-es256-64", "postgres", "ES256", 64, 0, "token"),
    ("pg-eddsa-64", "postgres", "EdDSA", 64, 0, "token"),
    ("sqlite-es256-64-10M", "sqlite", "ES256", 64, 10_000_000, "token"),
    ("pg-es256-64-10M", "postgres", "ES256", 64, 10_000_000, "token"),
    ("sqlite-introspect-64", "sqlite", "ES256", 64, 0, "introspect"),
    ("pg-introspect-64", "postgres", "ES256", 64, 0, "introspect"),
    # DPoP-bound tokens (RFC 9449): every request carries its own ES256 proof, pre-minted by
    # loadgen before the run; read beside the plain-bearer es256-64 rows of the same sitting.
    ("sqlite-dpop-64", "sqlite", "ES256", 64, 0, "dpop"),
    ("pg-dpop-64", "postgres", "ES256", 64, 0, "dpop"),
    # private_key_jwt (RFC 7523): every request authenticated by its own ES256 assertion,
    # pre-minted by loadgen before the run; read beside the secret-based es256-64 rows.
    ("sqlite-pkjwt-64", "sqlite", "ES256", 64, 0, "pkjwt"),
    ("pg-pkjwt-64", "postgres", "ES256", 64, 0, "pkjwt"),
    # Reference, not a target: GET /healthz, no database work and no crypto. The HTTP floor
    # of this machine (actix + loopback TCP + the load generator sharing the two cores).
    ("http-floor-64", "sqlite", "ES256", 64, 0, "healthz"),
]


def pg_admin(sql):
    subprocess.run(["psql", PG_BASE, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True, stdout=subprocess.DEVNULL)


def pg_url(db):
    u = urllib.parse.urlsplit(PG_BASE)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + db, u.query, u.fragment))


EXTRA_ENV = {}
# --no-vacuum: run right after the 10 M-row bulk load on Postgres (autovacuum and the
# checkpoint still catching up), to show what that costs.
NO_VACUUM = False
# Distinct tokens introspected in the introspection scenarios.
INTROSPECT_TOKENS = 1000
# DPoP and pkjwt scenarios: proofs or assertions minted per second of run (warm-up and
# measured), above any rate the two cores reach, so they never run out (the report says if they
# did: the connections then stop, and the tokens/s figure is no longer a measure).
MINTED_PER_SECOND = 16_000
# pkjwt: assertion lifetime, the server's default `[client_assertion] max_lifetime`.
ASSERTION_LIFETIME = 300


class Scenario:
    def __init__(self, name, backend, alg, conns, seed, mode, workdir):
        self.name, self.backend, self.alg, self.conns, self.seed, self.mode = name, backend, alg, conns, seed, mode
        self.dir = tempfile.mkdtemp(prefix=f"grantd-bench-{name}-", dir=workdir)
        self.db = None
        if backend == "sqlite":
            self.url = "sqlite://" + os.path.join(self.dir, "grantd.db")
        else:
            self.db = "grantd_bench_" + name.replace("-", "_").lower()
            pg_admin(f'DROP DATABASE IF EXISTS "{self.db}"')
            pg_admin(f'CREATE DATABASE "{self.db}"')
            self.url = pg_url(self.db)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("GRANTD_"):
                del self.env[k]
        self.env.update({
            "GRANTD_DATABASE__URL": self.url,
            "GRANTD_MASTER_KEY": MASTER_KEY,
            "GRANTD_SIGNING__ALGORITHM": alg,
            "GRANTD_SERVER__BIND": "127.0.0.1:0",
            "GRANTD_ADMIN__BIND": "127.0.0.1:0",
            # warn, but the server's final line (group-commit stats) is wanted.
            "GRANTD_LOG": "warn,grantd::serve=info",
        })
        if mode == "dpop":
            # Proofs are minted before the run with one iat; the default 60 s window must not
            # close on them during a long run.
            self.env["GRANTD_DPOP__MAX_AGE"] = "10m"
        self.env.update(EXTRA_ENV)

    def cli(self, *args):
        out = subprocess.run([BIN, "--json", *args], env=self.env, cwd=self.dir, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.db:
            pg_admin(f'DROP DATABASE IF EXISTS "{self.db}"')


class AdminLoad(threading.Thread):
    """list + PATCH against the admin API at `rate` requests per second until stopped. Requests
    are dispatched on schedule to a few worker threads (each with its own keep-alive
    connection), so a slow answer does not lower the rate asked of the server."""

    WORKERS = 8

    def __init__(self, admin_addr, public_addr, admin_client, client_ids, rate):
        super().__init__(daemon=True)
        self.admin_addr, self.client_ids, self.rate = admin_addr, client_ids, rate
        self.stop = threading.Event()
        self.results = {"list": [], "patch": []}  # (status, seconds)
        self.errors = 0
        self.lock = threading.Lock()
        self.local = threading.local()
        self.token = admin_token(public_addr, admin_client)

    def conn(self):
        import http.client
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection(self.admin_addr, timeout=10)
        return self.local.conn

    def call(self, op, method, path, body=None):
        import http.client
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        t = time.perf_counter()
        try:
            conn = self.conn()
            conn.request(method, "/admin/v1" + path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            result = (resp.status, time.perf_counter() - t)
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            with self.lock:
                self.errors += 1
            return
        with self.lock:
            self.results[op].append(result)

    def run(self):
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=self.WORKERS) as pool:
            start, n = time.perf_counter(), 0
            while not self.stop.is_set():
                pause = start + n / self.rate - time.perf_counter()
                if pause > 0 and self.stop.wait(pause):
                    break
                if n % 2 == 0:
                    pool.submit(self.call, "list", "GET", "/clients")
                else:
                    cid = self.client_ids[(n // 2) % len(self.client_ids)]
                    body = json.dumps({"name": f"bench-renamed-{n}"})
                    pool.submit(self.call, "patch", "PATCH", f"/clients/{cid}", body)
                n += 1

    def summary(self, seconds):
        def pct(xs, p):
            return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")
        parts = []
        for op, rs in self.results.items():
            ok = sorted(t for st, t in rs if st == 200)
            parts.append(f"{op} {len(ok)}/{len(rs)} ok, p50 {pct(ok, 0.5):.1f} ms, p99 {pct(ok, 0.99):.1f} ms")
        total = sum(len(rs) for rs in self.results.values())
        return (f"{total / seconds:.1f} req/s achieved of {self.rate} asked; " + "; ".join(parts)
                + f"; connection errors {self.errors}")


def admin_token(addr, admin_client):
    """A token for the admin API audience with the clients scopes, from the bootstrap client."""
    import base64
    import http.client
    conn = http.client.HTTPConnection(addr)
    auth = base64.b64encode(f"{admin_client['client_id']}:{admin_client['client_secret']}".encode()).decode()
    scope = urllib.parse.quote("grantd:clients:read grantd:clients:write")
    conn.request("POST", "/oauth/token", body=f"grant_type=client_credentials&audience=grantd-admin&scope={scope}",
                 headers={"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"admin token refused: {doc}")
    return doc["access_token"]


def create_clients(sc, uid, n_clients):
    """The bench clients: secret-based, or (pkjwt) each with its own ES256 key registered."""
    if sc.mode != "pkjwt":
        clients = []
        for i in range(n_clients):
            c = sc.cli("client", "create", "--name", f"bench-{i}", "--owner", uid, "--scope", "service mcp admin")
            clients.append({"client_id": c["client_id"], "client_secret": c["client_secret"]})
        return clients
    keys = json.loads(subprocess.run([PKJWT_KEYS, "--count", str(n_clients), "--out", sc.dir],
                                     check=True, capture_output=True, text=True).stdout)
    clients = []
    for i, key in enumerate(keys):
        c = sc.cli("client", "create", "--name", f"bench-{i}", "--owner", uid, "--scope", "service mcp admin",
                   "--auth-method", "private_key_jwt", "--jwks-file", os.path.join(sc.dir, f"jwks-{i}.json"))
        clients.append({"client_id": c["client_id"], "kid": key["kid"], "private_key": key["private_key"]})
    return clients


def run_scenario(sc, duration, warmup, n_clients, admin_rate=0):
    uid = sc.cli("user", "create", "--name", "bench", "--email", "bench@example.com", "--role", "admin")["id"]
    clients = create_clients(sc, uid, n_clients)
    with open(os.path.join(sc.dir, "clients.json"), "w") as f:
        json.dump(clients, f)
    # Created in both runs, so the one with and the one without the admin loop differ only
    # by the loop.
    admin_client = sc.cli("admin", "bootstrap")
    if sc.seed:
        t = time.time()
        sc.cli("session", "seed", "--count", str(sc.seed), "--client", clients[0]["client_id"])
        print(f"  seeded {sc.seed} sessions in {time.time() - t:.0f}s", file=sys.stderr)
        if sc.backend == "postgres" and not NO_VACUUM:
            # The steady state of a table that grew over time: vacuumed, analyzed, its pages
            # flushed. Without this the run measures the bulk load's aftermath (autovacuum of
            # 10 M fresh rows, a checkpoint writing them out) instead of the server.
            t = time.time()
            subprocess.run(["psql", sc.url, "-v", "ON_ERROR_STOP=1", "-q", "-c", "VACUUM (ANALYZE) sessions", "-c", "CHECKPOINT"],
                           check=True, stdout=subprocess.DEVNULL)
            print(f"  vacuumed and checkpointed in {time.time() - t:.0f}s", file=sys.stderr)
    # The server's stdout is its audit stream when `audit.output = "stdout"` (the default):
    # discarded, so it never floods this script's tables. Measure audit with the file sink.
    server = subprocess.Popen([BIN, "serve"], env=sc.env, cwd=sc.dir, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    addr = admin_addr = None
    for line in server.stderr:
        if line.startswith("grantd listening on "):
            addr = line.strip().split("http://", 1)[1].split()[0]
            admin_addr = line.split(" admin http://", 1)[1].split()[0]
            break
    if not addr:
        server.kill()
        raise RuntimeError("server did not start")
    try:
        args = [LOADGEN, "--addr", addr, "--clients", os.path.join(sc.dir, "clients.json"), "--connections", str(sc.conns),
                "--duration", str(duration), "--warmup", str(warmup), "--server-pid", str(server.pid), "--mode", sc.mode]
        if sc.mode == "introspect":
            # A pool of distinct live tokens, issued round-robin over the clients: the load
            # introspects each of them again and again, as resource servers do.
            import base64
            import http.client
            conn = http.client.HTTPConnection(addr)
            tokens = []
            for i in range(INTROSPECT_TOKENS):
                c = clients[i % len(clients)]
                auth = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
                conn.request("POST", "/oauth/token", body="grant_type=client_credentials",
                             headers={"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
                resp = conn.getresponse()
                tokens.append(json.loads(resp.read())["access_token"])
            conn.close()
            with open(os.path.join(sc.dir, "tokens"), "w") as f:
                f.write("\n".join(tokens) + "\n")
            args += ["--token-file", os.path.join(sc.dir, "tokens")]
        if sc.mode in ("dpop", "pkjwt"):
            args += ["--minted", str((warmup + duration + 2) * MINTED_PER_SECOND)]
        if sc.mode == "pkjwt":
            args += ["--assertion-lifetime", str(ASSERTION_LIFETIME)]
        load = None
        if admin_rate:
            # Its admin token is issued before the session count, like the introspected ones.
            ids = [c["client_id"] for c in clients]
            load = AdminLoad(admin_addr, addr, admin_client, ids, admin_rate)
        before = sc.cli("session", "count")["count"]
        if load:
            load.start()
        t = time.perf_counter()
        try:
            report = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
        finally:
            if load:
                load.stop.set()
                load.join(timeout=15)
        if load:
            report["admin_load"] = load.summary(time.perf_counter() - t)
            print(f"  admin load: {report['admin_load']}", file=sys.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        rest = server.stderr.read()
        server.wait(timeout=60)
    after = sc.cli("session", "count")["count"]
    report["new_rows"] = after - before
    rest = re.sub(r"\x1b\[[0-9;]*m", "", rest)
    stats = dict(kv.split("=", 1) for kv in rest.split() if kv.startswith("session_"))
    if stats.get("session_batches", "0") != "0":
        rows_per_batch = int(stats["session_rows"]) / int(stats["session_batches"])
        report["rows_per_commit"] = rows_per_batch
        print(f"  group commit: {stats['session_rows']} rows in {stats['session_batches']} commits "
              f"({rows_per_batch:.1f} rows per commit)", file=sys.stderr)
    return report


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", action="append", help="run only these (repeatable)")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="skip the 10M-row scenarios")
    ap.add_argument("--note", default="", help="a line saying what this run measures")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--no-vacuum", action="store_true", help="Postgres 10M scenarios: skip VACUUM (ANALYZE) + CHECKPOINT after seeding")
    ap.add_argument("--env", action="append", default=[], help="extra GRANTD_* setting for the server, K=V (repeatable)")
    ap.add_argument("--admin-load", type=int, default=0, metavar="R",
                    help="run an admin API automation loop (list + PATCH clients) at R requests/s during the load")
    args = ap.parse_args()
    global NO_VACUUM
    NO_VACUUM = args.no_vacuum
    for kv in args.env:
        k, _, v = kv.partition("=")
        EXTRA_ENV[k] = v
    chosen = [s for s in SCENARIOS if (not args.scenario or s[0] in args.scenario) and not (args.quick and s[4])]
    rows = []
    admin_lines = []
    for (name, backend, alg, conns, seed, mode) in chosen:
        print(f"== {name}", file=sys.stderr)
        sc = Scenario(name, backend, alg, conns, seed, mode, None)
        try:
            r = run_scenario(sc, args.duration, args.warmup, args.clients, args.admin_load)
        finally:
            sc.cleanup()
        non200 = {k: v for k, v in r["status"].items() if k != "200"}
        rows_ok = "n/a" if mode in ("introspect", "healthz") else ("yes" if r["new_rows"] == r["ok_all"] else f"NO ({r['new_rows']} rows, {r['ok_all']} 200s)")
        if mode in ("dpop", "pkjwt"):
            d = r["single_use"]
            rows_ok += f"; replays accepted: {d['replays_accepted']} of {d['replays_sent']}"
            if d["exhausted"]:
                rows_ok += "; PROOFS RAN OUT" if mode == "dpop" else "; ASSERTIONS RAN OUT"
            print(f"  {mode}: {json.dumps(d)}", file=sys.stderr)
        rss = r.get("server_rss_peak_kib") or 0
        line = (f"| {name} | {conns} | {r['per_second']:,.0f} | {r['latency_ms']['p50']:.2f} | {r['latency_ms']['p90']:.2f} | "
                f"{r['latency_ms']['p99']:.2f} | {r['latency_ms']['max']:.1f} | {r['ok']:,} | {json.dumps(non200) if non200 else '0'} "
                f"| {r['io_errors']} | {rss / 1024:.0f} | {rows_ok} |")
        print(line, file=sys.stderr)
        rows.append(line)
        if "admin_load" in r:
            admin_lines.append(f"- {name}: admin load {r['admin_load']}")
    header = [
        "",
        f"### {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}",
        "",
        f"`python3 crates/grantd-bench/bench.py {' '.join(a for a in sys.argv[1:] if a != args.note)}` — {args.duration}s measured after {args.warmup}s warm-up, "
        f"{args.clients} clients, loadgen on the same machine (1 thread). {args.note}".rstrip(),
        "",
        "| scenario | conns | tokens/s | p50 ms | p90 ms | p99 ms | max ms | 200s | non-200 | io errors | server RSS MiB | rows = 200s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    text = "\n".join(header + rows + ([""] + admin_lines if admin_lines else [])) + "\n"
    print(text)
    if not args.no_append:
        with open(os.path.join(ROOT, "docs", "benchmarks.md"), "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
