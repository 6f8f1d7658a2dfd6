//! grantd's benchmark tooling. The load generator lives in `src/bin/loadgen.rs` (and the key
//! maker of its `pkjwt` mode in `src/bin/pkjwt-keys.rs`); criterion micro-benchmarks in
//! `benches/`. Nothing here is part of the server.

pub mod dpop;
mod jws;
pub mod pkjwt;
