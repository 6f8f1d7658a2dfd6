//! grantd's benchmark tooling. The load generator lives in `src/bin/loadgen.rs`; criterion
//! micro-benchmarks in `benches/`. Nothing here is part of the server.

pub mod dpop;
