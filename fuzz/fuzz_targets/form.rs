//! The token endpoint's form parser (`application/x-www-form-urlencoded`, strict decoding,
//! repeats refused): any body is parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Some(n) = grantd_api::bench_support::parse_token_form(body) {
        // Every parameter counted was at least one byte of the body.
        assert!(n <= body.len());
    }
});
