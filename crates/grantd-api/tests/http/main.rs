//! HTTP tests of grantd-api: every rule of the token, introspection, revocation, metadata,
//! JWKS and health endpoints, in-process through `configure` (plus one real-socket test of
//! `server`). One test binary, split by topic.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod auth;
mod body;
mod discovery;
mod dpop;
mod fixture;
mod lifecycle;
mod no_io;
mod routes;
mod server;
mod token;
