use aws_lc_rs::rsa::KeySize;
use serde_json::{Value, json};

use super::*;
use crate::test_support::ClientKey;

const URL: &str = "https://auth.example.com/oauth/token";
const NOW: i64 = 1_800_000_000;

fn target() -> ProofTarget<'static> {
    ProofTarget {
        method: "POST",
        uri: URL,
    }
}

fn now() -> Timestamp {
    Timestamp::from_secs(NOW)
}

fn header(key: &ClientKey, alg: &str) -> Value {
    json!({"typ": "dpop+jwt", "alg": alg, "jwk": key.public_jwk()})
}

fn claims() -> Value {
    json!({"htm": "POST", "htu": URL, "iat": NOW, "jti": "j-1"})
}

fn check(proof: &str) -> Result<DpopBinding, ProofRejection> {
    check_proof(proof, target(), now(), &DpopConfig::default(), &|_| true)
}

/// A proof by `key` under `alg` with `edit` applied to the default header and claims.
fn proof_with(key: &ClientKey, alg: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
    let (mut h, mut c) = (header(key, alg), claims());
    edit(&mut h, &mut c);
    key.jws(alg, &h, &c)
}

#[test]
fn valid_proofs_bind_to_the_key_thumbprint() {
    let keys = [
        (ClientKey::es256(), "ES256"),
        (ClientKey::ed25519(), "EdDSA"),
        (ClientKey::ed25519(), "Ed25519"),
        (ClientKey::rsa(KeySize::Rsa2048), "RS256"),
        (ClientKey::rsa(KeySize::Rsa2048), "PS256"),
    ];
    for (key, alg) in keys {
        let binding = check(&proof_with(&key, alg, |_, _| {})).unwrap();
        let jwk = key.public_jwk();
        let want = PublicJwk::parse(jwk.as_object().unwrap()).unwrap();
        assert_eq!(binding.jkt.as_str(), want.thumbprint(), "{alg}");
        assert_eq!(binding.proof_key.len(), 43);
    }
}

#[test]
fn the_replay_key_depends_on_jti_and_key() {
    let (a, b) = (ClientKey::es256(), ClientKey::es256());
    let k1 = check(&proof_with(&a, "ES256", |_, _| {})).unwrap();
    let k1_again = check(&proof_with(&a, "ES256", |_, _| {})).unwrap();
    let k2 = check(&proof_with(&a, "ES256", |_, c| c["jti"] = json!("j-2"))).unwrap();
    let k3 = check(&proof_with(&b, "ES256", |_, _| {})).unwrap();
    assert_eq!(k1.proof_key, k1_again.proof_key, "same key and jti");
    assert_ne!(k1.proof_key, k2.proof_key);
    assert_ne!(k1.proof_key, k3.proof_key);
}

#[test]
fn each_check_refuses_with_its_reason() {
    use ProofRejection::*;
    let key = ClientKey::es256();
    let other = ClientKey::es256();
    let rsa = ClientKey::rsa(KeySize::Rsa2048);
    type Edit = Box<dyn FnOnce(&mut Value, &mut Value)>;
    let cases: Vec<(&str, Edit, ProofRejection)> = vec![
        ("typ", Box::new(|h, _| h["typ"] = json!("JWT")), WrongType),
        (
            "no typ",
            Box::new(|h, _| drop(h.as_object_mut().unwrap().remove("typ"))),
            WrongType,
        ),
        (
            "alg none",
            Box::new(|h, _| h["alg"] = json!("none")),
            UnsupportedAlgorithm,
        ),
        (
            "alg HS256",
            Box::new(|h, _| h["alg"] = json!("HS256")),
            UnsupportedAlgorithm,
        ),
        ("crit", Box::new(|h, _| h["crit"] = json!(["x"])), Malformed),
        (
            "no jwk",
            Box::new(|h, _| drop(h.as_object_mut().unwrap().remove("jwk"))),
            BadKey,
        ),
        ("jwk string", Box::new(|h, _| h["jwk"] = json!("k")), BadKey),
        (
            "private jwk",
            Box::new(|h, _| h["jwk"]["d"] = json!("AAAA")),
            PrivateKey,
        ),
        (
            "symmetric jwk",
            Box::new(|h, _| h["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"})),
            BadKey,
        ),
        (
            "other key's jwk",
            Box::new(move |h, _| h["jwk"] = other.public_jwk()),
            BadSignature,
        ),
        (
            "rsa jwk for ES256",
            Box::new(move |h, _| h["jwk"] = rsa.public_jwk()),
            AlgorithmKeyMismatch,
        ),
        (
            "htm GET",
            Box::new(|_, c| c["htm"] = json!("GET")),
            WrongMethod,
        ),
        (
            "htm post",
            Box::new(|_, c| c["htm"] = json!("post")),
            WrongMethod,
        ),
        (
            "no htm",
            Box::new(|_, c| drop(c.as_object_mut().unwrap().remove("htm"))),
            WrongMethod,
        ),
        (
            "other path",
            Box::new(|_, c| c["htu"] = json!("https://auth.example.com/oauth/introspect")),
            WrongUri,
        ),
        (
            "other host",
            Box::new(|_, c| c["htu"] = json!("https://evil.example.com/oauth/token")),
            WrongUri,
        ),
        (
            "other port",
            Box::new(|_, c| c["htu"] = json!("https://auth.example.com:8443/oauth/token")),
            WrongUri,
        ),
        (
            "http",
            Box::new(|_, c| c["htu"] = json!("http://auth.example.com/oauth/token")),
            WrongUri,
        ),
        (
            "no htu",
            Box::new(|_, c| drop(c.as_object_mut().unwrap().remove("htu"))),
            WrongUri,
        ),
        (
            "expired",
            Box::new(|_, c| c["iat"] = json!(NOW - 61)),
            IssuedAtOutOfWindow,
        ),
        (
            "future",
            Box::new(|_, c| c["iat"] = json!(NOW + 6)),
            IssuedAtOutOfWindow,
        ),
        (
            "iat string",
            Box::new(|_, c| c["iat"] = json!(NOW.to_string())),
            IssuedAtOutOfWindow,
        ),
        (
            "no iat",
            Box::new(|_, c| drop(c.as_object_mut().unwrap().remove("iat"))),
            IssuedAtOutOfWindow,
        ),
        (
            "no jti",
            Box::new(|_, c| drop(c.as_object_mut().unwrap().remove("jti"))),
            MissingJti,
        ),
        (
            "empty jti",
            Box::new(|_, c| c["jti"] = json!("")),
            MissingJti,
        ),
        (
            "long jti",
            Box::new(|_, c| c["jti"] = json!("j".repeat(257))),
            MissingJti,
        ),
    ];
    for (name, edit, want) in cases {
        let proof = proof_with(&key, "ES256", edit);
        assert_eq!(check(&proof).map(|_| ()), Err(want), "{name}");
    }
}

#[test]
fn uri_comparison_normalizes_case_default_port_query_and_fragment() {
    let key = ClientKey::es256();
    for htu in [
        "https://auth.example.com/oauth/token",
        "HTTPS://AUTH.Example.COM/oauth/token",
        "https://auth.example.com:443/oauth/token",
        "https://auth.example.com/oauth/token?x=1",
        "https://auth.example.com/oauth/token#frag",
    ] {
        let proof = proof_with(&key, "ES256", |_, c| c["htu"] = json!(htu));
        assert!(check(&proof).is_ok(), "{htu}");
    }
    // The path is case-sensitive.
    let proof = proof_with(&key, "ES256", |_, c| {
        c["htu"] = json!("https://auth.example.com/OAuth/token")
    });
    assert_eq!(check(&proof).map(|_| ()), Err(ProofRejection::WrongUri));
}

#[test]
fn window_edges_are_inclusive() {
    let key = ClientKey::es256();
    for iat in [NOW - 60, NOW + 5, NOW] {
        let proof = proof_with(&key, "ES256", |_, c| c["iat"] = json!(iat));
        assert!(check(&proof).is_ok(), "{iat}");
    }
}

#[test]
fn structurally_broken_proofs_are_malformed() {
    let key = ClientKey::es256();
    let good = proof_with(&key, "ES256", |_, _| {});
    let (input, sig) = good.rsplit_once('.').unwrap();
    let tampered_sig = format!("{input}.{}", &sig[..sig.len() - 2]);
    let cases = [
        String::new(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{good}x!"),
        "x".repeat(MAX_PROOF_LEN + 1),
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode("[1]"),
            URL_SAFE_NO_PAD.encode("{}")
        ),
    ];
    for proof in cases {
        assert_eq!(
            check(&proof).map(|_| ()),
            Err(ProofRejection::Malformed),
            "{proof:.40}"
        );
    }
    assert!(matches!(
        check(&tampered_sig),
        Err(ProofRejection::BadSignature | ProofRejection::Malformed)
    ));
    let payload_swapped = {
        let other = proof_with(&key, "ES256", |_, c| c["jti"] = json!("j-9"));
        let (h, rest) = good.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let p = other.split('.').nth(1).unwrap();
        format!("{h}.{p}.{s}")
    };
    assert_eq!(
        check(&payload_swapped).map(|_| ()),
        Err(ProofRejection::BadSignature)
    );
}

fn verifier(nonces: bool) -> DpopVerifier {
    let master = MasterKey::generate();
    DpopVerifier::new(
        &master,
        DpopConfig {
            nonces,
            ..DpopConfig::default()
        },
    )
}

#[test]
fn nonces_are_required_when_on_and_accepted_for_two_slots() {
    let key = ClientKey::es256();
    let v = verifier(true);
    let with_nonce = |n: Option<&str>| {
        proof_with(&key, "ES256", |_, c| {
            if let Some(n) = n {
                c["nonce"] = json!(n);
            }
        })
    };
    assert_eq!(
        v.check(&with_nonce(None), target(), now()).map(|_| ()),
        Err(ProofRejection::NonceRequired)
    );
    assert_eq!(
        v.check(&with_nonce(Some("made-up")), target(), now())
            .map(|_| ()),
        Err(ProofRejection::NonceRequired)
    );
    let n = v.nonce(now()).unwrap();
    assert!(v.check(&with_nonce(Some(&n)), target(), now()).is_ok());
    // Still accepted in the next slot, not in the one after.
    let next = Timestamp::from_secs(NOW + 60);
    let later = Timestamp::from_secs(NOW + 120);
    assert!(v.nonce_is_current(&n, next));
    assert!(!v.nonce_is_current(&n, later));
    // Another master key's nonce is not accepted.
    let other = verifier(true).nonce(now()).unwrap();
    assert!(!v.nonce_is_current(&other, now()));
}

#[test]
fn a_second_replica_with_the_same_master_key_accepts_the_nonce() {
    let master = MasterKey::generate();
    let config = DpopConfig {
        nonces: true,
        ..DpopConfig::default()
    };
    let (a, b) = (
        DpopVerifier::new(&master, config),
        DpopVerifier::new(&master, config),
    );
    let n = a.nonce(now()).unwrap();
    assert!(b.nonce_is_current(&n, now()));
}

#[test]
fn nonces_off_ignores_the_claim_and_hands_out_none() {
    let key = ClientKey::es256();
    let v = verifier(false);
    assert_eq!(v.nonce(now()), None);
    let proof = proof_with(&key, "ES256", |_, c| c["nonce"] = json!("anything"));
    assert!(v.check(&proof, target(), now()).is_ok());
    assert_eq!(
        v.algorithms(),
        &["ES256", "EdDSA", "Ed25519", "RS256", "PS256"]
    );
}

#[test]
fn a_remembered_header_still_has_every_other_check_made() {
    let (key, other) = (ClientKey::es256(), ClientKey::es256());
    let v = verifier(false);
    let first = v.check(&proof_with(&key, "ES256", |_, _| {}), target(), now());
    let again = proof_with(&key, "ES256", |_, c| c["jti"] = json!("j-2"));
    let second = v.check(&again, target(), now());
    assert_eq!(v.headers.len(), 1, "one key, one header remembered");
    assert_eq!(first.unwrap().jkt, second.unwrap().jkt);
    // The same header over a signature by another key: the signature is still checked.
    let (header, _) = again.split_once('.').unwrap();
    let forged = proof_with(&other, "ES256", |h, _| *h = header_of(&key));
    assert!(forged.starts_with(header));
    assert_eq!(
        v.check(&forged, target(), now()).map(|_| ()),
        Err(ProofRejection::BadSignature)
    );
    // ... and the claims.
    let stale = proof_with(&key, "ES256", |_, c| c["iat"] = json!(NOW - 3600));
    assert_eq!(
        v.check(&stale, target(), now()).map(|_| ()),
        Err(ProofRejection::IssuedAtOutOfWindow)
    );
    // A header that fails is not remembered, and fails again.
    let untyped = proof_with(&key, "ES256", |h, _| h["typ"] = json!("jwt"));
    for _ in 0..2 {
        assert_eq!(
            v.check(&untyped, target(), now()).map(|_| ()),
            Err(ProofRejection::WrongType)
        );
    }
    assert_eq!(v.headers.len(), 1);
}

fn header_of(key: &ClientKey) -> Value {
    header(key, "ES256")
}
