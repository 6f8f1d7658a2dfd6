//! The `Authorization: Basic` parser: any header value is a (client id, secret) pair or a
//! refusal, never a panic; both parts of an accepted pair are non-empty.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    if let Some((id, secret)) = grantd_api::bench_support::parse_basic(value) {
        assert!(id > 0 && secret > 0, "an accepted pair has an empty part");
        // Decoding never grows: base64 shrinks, percent-decoding shrinks.
        assert!(
            id + secret < value.len(),
            "{id} + {secret} from {} bytes",
            value.len()
        );
    }
});
