//! The configuration loader (`config::load`: TOML file + `GRANTD_<SECTION>__<KEY>`
//! environment overrides, strict checks, resolution into typed settings): any file and any
//! environment is a configuration or an error naming what is wrong, never a panic.
//!
//! Input: the TOML text, then optionally a NUL byte and environment lines `NAME=value`.
//! `crates/grantd/src/config.rs` is compiled in by path (the binary has no library crate);
//! the loader is reached through `load` alone.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, reason = "only `load` is called")]
#[path = "../../crates/grantd/src/config.rs"]
mod config;

/// `config` resolves `[federation]` with it.
#[allow(dead_code, reason = "only what `load` reaches is called")]
#[path = "../../crates/grantd/src/federation.rs"]
mod federation;

static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("grantd-fuzz-config-{}.toml", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    let (file, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let env: BTreeMap<String, String> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    std::fs::write(&*FILE, file).expect("write the config file");
    let _ = config::load(Some(&FILE), &env);
});
