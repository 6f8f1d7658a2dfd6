use grantd_domain::{AssertionRejection as R, AssertionTarget, ClientId, ClientKeys};
use grantd_ports::ClientAssertions as _;
use serde_json::{Value, json};

use super::AssertionVerifier;
use crate::client_keys::parse_client_jwks;
use crate::test_support::ClientKey;

const ISSUER: &str = "https://auth.example.com";
const TOKEN_URL: &str = "https://auth.example.com/oauth/token";
const NOW: i64 = 1_800_000_000;
const CLIENT: &str = "cl_client";

fn target() -> AssertionTarget<'static> {
    AssertionTarget {
        issuer: ISSUER,
        token_endpoint: TOKEN_URL,
        max_lifetime_secs: 300,
        max_skew_secs: 5,
    }
}

fn registered(key: &ClientKey, kid: &str) -> ClientKeys {
    let mut jwk = key.public_jwk();
    jwk["kid"] = json!(kid);
    parse_client_jwks(&json!({ "keys": [jwk] }).to_string()).unwrap()
}

fn claims() -> Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": NOW + 60, "iat": NOW, "jti": "j1"})
}

fn check(assertion: &str, keys: &ClientKeys) -> Result<String, R> {
    check_with(&AssertionVerifier::default(), assertion, keys)
}

/// The check by `verifier`, whose parsed-key cache carries over from call to call.
fn check_with(
    verifier: &AssertionVerifier,
    assertion: &str,
    keys: &ClientKeys,
) -> Result<String, R> {
    let id = ClientId::parse(CLIENT).unwrap();
    let now = grantd_domain::Timestamp::from_secs(NOW);
    verifier.check(assertion, &id, keys, target(), now)
}

/// An ES256 assertion by `key` naming `kid`, with its own `jti`.
fn signed_by(key: &ClientKey, kid: &str, jti: &str) -> String {
    let mut c = claims();
    c["jti"] = json!(jti);
    key.jws("ES256", &json!({"alg": "ES256", "kid": kid}), &c)
}

#[test]
fn a_cached_key_never_verifies_another_keys_signature_under_the_same_kid() {
    let verifier = AssertionVerifier::default();
    let (a, b) = (ClientKey::es256(), ClientKey::es256());
    // Two registrations naming their key "k" (two clients, or one before and after a change).
    let (keys_a, keys_b) = (registered(&a, "k"), registered(&b, "k"));
    // Both keys parsed and kept.
    check_with(&verifier, &signed_by(&a, "k", "1"), &keys_a).unwrap();
    check_with(&verifier, &signed_by(&b, "k", "2"), &keys_b).unwrap();
    // Each signature checks only under its own key, whatever the shared kid.
    assert_eq!(
        check_with(&verifier, &signed_by(&b, "k", "3"), &keys_a),
        Err(R::BadSignature)
    );
    assert_eq!(
        check_with(&verifier, &signed_by(&a, "k", "4"), &keys_b),
        Err(R::BadSignature)
    );
    // What the uncached path says, for the same inputs.
    assert_eq!(
        check(&signed_by(&b, "k", "5"), &keys_a),
        Err(R::BadSignature)
    );
    assert!(check_with(&verifier, &signed_by(&a, "k", "6"), &keys_a).is_ok());
}

#[test]
fn keys_replaced_with_set_client_keys_refuse_the_old_key_at_once() {
    let verifier = AssertionVerifier::default();
    let (old, new) = (ClientKey::es256(), ClientKey::es256());
    let before = registered(&old, "k1");
    check_with(&verifier, &signed_by(&old, "k1", "1"), &before).unwrap();
    // `set_client_keys` stored a new set under the same kid; once the client's cache entry is
    // dropped, the verifier is handed the new set: the old key no longer verifies anything.
    let after = registered(&new, "k1");
    assert_eq!(
        check_with(&verifier, &signed_by(&old, "k1", "2"), &after),
        Err(R::BadSignature)
    );
    check_with(&verifier, &signed_by(&new, "k1", "3"), &after).unwrap();
    // A set without that kid at all: the old kid is unknown.
    let renamed = registered(&new, "k2");
    assert_eq!(
        check_with(&verifier, &signed_by(&old, "k1", "4"), &renamed),
        Err(R::UnknownKey)
    );
    // And the same answers from a verifier that never saw the old key.
    assert_eq!(
        check(&signed_by(&old, "k1", "5"), &after),
        Err(R::BadSignature)
    );
}

#[test]
fn a_registered_key_is_parsed_once_and_kept_under_its_whole_text() {
    let verifier = AssertionVerifier::default();
    let key = ClientKey::es256();
    let keys = registered(&key, "k1");
    for i in 0..3 {
        check_with(&verifier, &signed_by(&key, "k1", &i.to_string()), &keys).unwrap();
    }
    assert_eq!(verifier.parsed.0.len(), 1);
    let text = &keys.keys()[0].jwk;
    assert!(verifier.parsed.0.get(text.as_str()).is_some());
    // The same key registered under another kid is another text, another entry.
    check_with(
        &verifier,
        &signed_by(&key, "k2", "x"),
        &registered(&key, "k2"),
    )
    .unwrap();
    assert_eq!(verifier.parsed.0.len(), 2);
}

fn es256_with(claims: &Value, kid: &str) -> (String, ClientKeys) {
    let key = ClientKey::es256();
    let jws = key.jws("ES256", &json!({"alg": "ES256", "kid": kid}), claims);
    (jws, registered(&key, "k1"))
}

#[test]
fn a_valid_assertion_passes_for_each_key_type_and_gives_a_replay_key_per_client_and_jti() {
    for (key, alg) in [
        (ClientKey::es256(), "ES256"),
        (ClientKey::ed25519(), "EdDSA"),
        (ClientKey::rsa(aws_lc_rs::rsa::KeySize::Rsa2048), "PS256"),
    ] {
        let keys = registered(&key, "k1");
        let jws = key.jws(alg, &json!({"alg": alg}), &claims());
        let replay = check(&jws, &keys).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(replay.len(), 43);
        let mut other = claims();
        other["jti"] = json!("j2");
        let jws2 = key.jws(alg, &json!({"alg": alg}), &other);
        assert_ne!(check(&jws2, &keys).unwrap(), replay, "{alg}");
        assert_eq!(AssertionVerifier::default().issuer(&jws).unwrap(), CLIENT);
    }
}

#[test]
fn aud_may_be_the_issuer_or_a_one_element_array_and_nothing_else() {
    for (aud, ok) in [
        (json!(ISSUER), true),
        (json!([TOKEN_URL]), true),
        (json!([TOKEN_URL, ISSUER]), false),
        (json!("https://other.example.com"), false),
        (Value::Null, false),
    ] {
        let mut c = claims();
        c["aud"] = aud.clone();
        let (jws, keys) = es256_with(&c, "k1");
        let got = check(&jws, &keys);
        assert_eq!(got.is_ok(), ok, "{aud}: {got:?}");
        if !ok {
            assert_eq!(got, Err(R::WrongAudience));
        }
    }
}

#[test]
fn each_time_and_identity_check_refuses_with_its_reason() {
    let cases: Vec<(&str, Value, R)> = vec![
        ("expired", json!(NOW - 1), R::Expired),
        ("no exp", Value::Null, R::Expired),
    ];
    for (name, exp, want) in cases {
        let mut c = claims();
        if exp.is_null() {
            c.as_object_mut().unwrap().remove("exp");
        } else {
            c["exp"] = exp;
        }
        let (jws, keys) = es256_with(&c, "k1");
        assert_eq!(check(&jws, &keys), Err(want), "{name}");
    }
    let edits: Vec<(&str, Value, R)> = vec![
        ("too long", json!({"exp": NOW + 301}), R::TooLongLived),
        (
            "long, no iat",
            json!({"exp": NOW + 400, "iat": null}),
            R::TooLongLived,
        ),
        ("future iat", json!({"iat": NOW + 30}), R::NotYetValid),
        ("future nbf", json!({"nbf": NOW + 30}), R::NotYetValid),
        ("no jti", json!({"jti": null}), R::MissingJti),
        ("empty jti", json!({"jti": ""}), R::MissingJti),
        (
            "sub differs",
            json!({"sub": "cl_other"}),
            R::IssuerSubjectMismatch,
        ),
        (
            "other client",
            json!({"sub": "cl_other", "iss": "cl_other"}),
            R::IssuerSubjectMismatch,
        ),
    ];
    for (name, edit, want) in edits {
        let mut c = claims();
        for (k, v) in edit.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let (jws, keys) = es256_with(&c, "k1");
        assert_eq!(check(&jws, &keys), Err(want), "{name}");
    }
    // Within the skew is fine.
    let mut c = claims();
    c["iat"] = json!(NOW + 5);
    let (jws, keys) = es256_with(&c, "k1");
    assert!(check(&jws, &keys).is_ok());
}

#[test]
fn keys_and_algorithms_are_pinned() {
    let key = ClientKey::es256();
    let keys = registered(&key, "k1");
    let other = ClientKey::es256();
    let by_other = other.jws("ES256", &json!({"alg": "ES256"}), &claims());
    assert_eq!(check(&by_other, &keys), Err(R::BadSignature));
    let unknown = key.jws("ES256", &json!({"alg": "ES256", "kid": "k9"}), &claims());
    assert_eq!(check(&unknown, &keys), Err(R::UnknownKey));
    // RS256 header over an EC key: no registered key pins it.
    let rsa = ClientKey::rsa(aws_lc_rs::rsa::KeySize::Rsa2048);
    let wrong_alg = rsa.jws("RS256", &json!({"alg": "RS256"}), &claims());
    assert_eq!(check(&wrong_alg, &keys), Err(R::UnsupportedAlgorithm));
    // HS256 keyed with the registered public key, and alg none.
    let hs = hs256_with_public_key(&keys, &claims());
    assert_eq!(check(&hs, &keys), Err(R::UnsupportedAlgorithm));
    let none = unsigned(&claims());
    assert_eq!(check(&none, &keys), Err(R::UnsupportedAlgorithm));
    assert_eq!(check("not-a-jwt", &keys), Err(R::Malformed));
    let jws = key.jws("ES256", &json!({"alg": "ES256"}), &claims());
    assert_eq!(check(&jws, &ClientKeys::default()), Err(R::NoKeys));
}

/// A client that registered `token_endpoint_auth_signing_alg` is held to it even when its
/// key allows another algorithm (an RSA key: RS256 and PS256).
#[test]
fn a_registered_algorithm_is_enforced() {
    use grantd_domain::AssertionAlg;
    let key = ClientKey::rsa(aws_lc_rs::rsa::KeySize::Rsa2048);
    let any = registered(&key, "k1");
    let rs = key.jws("RS256", &json!({"alg": "RS256"}), &claims());
    let ps = key.jws("PS256", &json!({"alg": "PS256"}), &claims());
    assert!(check(&rs, &any).is_ok() && check(&ps, &any).is_ok());
    let pinned = any.with_alg(Some(AssertionAlg::Ps256)).unwrap();
    assert!(check(&ps, &pinned).is_ok());
    assert_eq!(check(&rs, &pinned), Err(R::AlgorithmNotRegistered));
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hs256_with_public_key(keys: &ClientKeys, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256"}"#),
        b64(claims.to_string().as_bytes())
    );
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, keys.keys()[0].jwk.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    )
}
