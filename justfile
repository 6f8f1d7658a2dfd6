# grantd's front door: `just` lists the recipes. README's two commands work with cargo alone.

# Postgres for the tests (override to use another server)
export TEST_DATABASE_URL := env_var_or_default("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")

default:
    @just --list

# Run the server on the embedded SQLite default (grantd.db + grantd.key in this folder)
run *ARGS:
    cargo run --release -p grantd -- serve {{ARGS}}

# Format all code
fmt:
    cargo fmt --all

# Formatting check + clippy with warnings denied
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Dependencies declared but never used (cargo install cargo-machete)
machete:
    cargo machete

# The layer guards: inner crates must not depend on outer ones or on frameworks
guards:
    bash .ci/guards.sh

# The whole test suite (needs Postgres at TEST_DATABASE_URL)
test:
    cargo test --workspace

# Fuzz every parser (form, Basic header, JWS verify, config loader) for SECONDS each
# (release build with libFuzzer's coverage flags; no nightly needed; see fuzz/README.md)
fuzz SECONDS="120" *TARGETS:
    bash fuzz/run.sh {{SECONDS}} {{TARGETS}}

# Regenerate docs/openapi.json from the served document (commit it; a test fails when they differ)
openapi:
    GRANTD_UPDATE_OPENAPI=1 cargo test -p grantd --test openapi the_served_document

# schemathesis (PyPI, pinned; installed into target/ on first use) against the real server
schemathesis:
    cargo test -p grantd --test openapi schemathesis -- --nocapture

# What CI runs
ci:
    bash .ci/run

# Build the release server, the load generator and its key maker (pkjwt-keys)
bench-build:
    cargo build --release -p grantd -p grantd-bench --bins

# Load benchmark: every scenario of docs/benchmarks.md, bearer, DPoP and private_key_jwt
# (needs Postgres; appends a table there)
bench *ARGS: bench-build
    python3 crates/grantd-bench/bench.py {{ARGS}}

# The same without the 10M-row scenarios
bench-quick *ARGS: bench-build
    python3 crates/grantd-bench/bench.py --quick {{ARGS}}

# Criterion micro-benchmarks (authorization, signing per algorithm, Basic parsing)
bench-micro:
    cargo bench -p grantd-bench --bench micro
