use aws_lc_rs::rsa::KeySize;
use serde_json::{Value, json};

use super::*;
use crate::test_support::ClientKey;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
#[test]
fn rfc7638_example_thumbprint() {
    let jwk = obj(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }));
    let key = PublicJwk::parse(&jwk).unwrap();
    assert_eq!(
        key.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

/// The thumbprint ignores optional members and member order, and differs between keys.
#[test]
fn thumbprint_is_over_required_members_only() {
    let k = ClientKey::es256();
    let mut a = obj(k.public_jwk());
    let plain = PublicJwk::parse(&a).unwrap().thumbprint().to_owned();
    a.insert("kid".into(), json!("x"));
    a.insert("use".into(), json!("sig"));
    assert_eq!(PublicJwk::parse(&a).unwrap().thumbprint(), plain);
    let other = obj(ClientKey::es256().public_jwk());
    assert_ne!(PublicJwk::parse(&other).unwrap().thumbprint(), plain);
    assert_eq!(plain.len(), 43);
}

#[test]
fn each_key_type_verifies_only_under_its_pinned_algorithms() {
    let cases: Vec<(ClientKey, &[&str])> = vec![
        (ClientKey::es256(), &["ES256"]),
        (ClientKey::ed25519(), &["EdDSA", "Ed25519"]),
        (ClientKey::rsa(KeySize::Rsa2048), &["RS256", "PS256"]),
    ];
    for (key, allowed) in cases {
        let jwk = PublicJwk::parse(&obj(key.public_jwk())).unwrap();
        for name in JwsAlg::NAMES {
            let alg = JwsAlg::parse(name).unwrap();
            let sig = key.sign(name, b"input");
            let ok = allowed.contains(&name);
            assert_eq!(jwk.allows(alg), ok, "{name} for {jwk:?}");
            assert_eq!(jwk.verify(alg, b"input", &sig), ok, "{name}");
            assert!(!jwk.verify(alg, b"other", &sig), "{name} over other bytes");
        }
    }
}

#[test]
fn a_signature_by_another_key_does_not_verify() {
    let (a, b) = (ClientKey::es256(), ClientKey::es256());
    let jwk = PublicJwk::parse(&obj(a.public_jwk())).unwrap();
    assert!(!jwk.verify(JwsAlg::Es256, b"m", &b.sign("ES256", b"m")));
    assert!(jwk.verify(JwsAlg::Es256, b"m", &a.sign("ES256", b"m")));
}

#[test]
fn none_and_hmac_are_not_algorithms() {
    for name in [
        "none", "HS256", "HS384", "HS512", "ES384", "RS512", "es256", "",
    ] {
        assert_eq!(JwsAlg::parse(name), None, "{name}");
    }
}

#[test]
fn refused_keys() {
    let ec = obj(ClientKey::es256().public_jwk());
    let with = |name: &str, v: Value| {
        let mut m = ec.clone();
        m.insert(name.into(), v);
        m
    };
    let without = |name: &str| {
        let mut m = ec.clone();
        m.remove(name);
        m
    };
    let small = obj(ClientKey::rsa(KeySize::Rsa2048).public_jwk());
    let mut short_n = small.clone();
    let n = URL_SAFE_NO_PAD
        .decode(small["n"].as_str().unwrap())
        .unwrap();
    short_n.insert("n".into(), json!(URL_SAFE_NO_PAD.encode(&n[..128])));
    let cases: Vec<(Map<String, Value>, JwkError)> = vec![
        (with("d", json!("AAAA")), JwkError::Private),
        (with("oth", json!([])), JwkError::Private),
        (
            obj(json!({"kty": "oct", "k": "c2VjcmV0"})),
            JwkError::Symmetric,
        ),
        (obj(json!({"kty": "oct"})), JwkError::Symmetric),
        (with("crv", json!("P-384")), JwkError::Unsupported),
        (with("kty", json!("OKP")), JwkError::Unsupported),
        (with("kty", json!("XYZ")), JwkError::Unsupported),
        (without("kty"), JwkError::Unsupported),
        (without("y"), JwkError::Unsupported),
        (with("x", json!("not base64!")), JwkError::Unsupported),
        (with("x", json!(12)), JwkError::Unsupported),
        // A point not on the curve.
        (
            with("y", json!(URL_SAFE_NO_PAD.encode([1u8; 32]))),
            JwkError::Unsupported,
        ),
        (short_n, JwkError::WeakRsa),
        (
            obj(json!({"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([9u8; 32])})),
            JwkError::Unsupported,
        ),
    ];
    for (jwk, want) in cases {
        assert_eq!(PublicJwk::parse(&jwk).map(|_| ()), Err(want), "{jwk:?}");
    }
    let mut rsa_private = small;
    rsa_private.insert("p".into(), json!("AQAB"));
    assert_eq!(
        PublicJwk::parse(&rsa_private).map(|_| ()),
        Err(JwkError::Private)
    );
}
