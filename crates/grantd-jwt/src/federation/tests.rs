//! Every check of a platform token, each able to fail on its own.

use grantd_domain::{
    AssertionRejection as R, ClientKeys, IssuerKind, IssuerName, Timestamp, TrustedIssuer,
};
use grantd_ports::{FederatedTokens as _, VerifiedPlatformToken};
use serde_json::{Value, json};

use super::PlatformTokenVerifier;
use crate::client_keys::parse_client_jwks;
use crate::test_support::ClientKey;

const K8S: &str = "https://kubernetes.default.svc";
const AUD: &str = "https://grantd.example";
const SUB: &str = "system:serviceaccount:ci:builder";
const NOW: i64 = 1_800_000_000;

fn issuer(kind: IssuerKind, single_use: bool) -> TrustedIssuer {
    TrustedIssuer {
        name: IssuerName::parse("k8s").unwrap(),
        issuer: match kind {
            IssuerKind::Oidc => K8S.into(),
            IssuerKind::Spiffe => "spiffe://example.org".into(),
        },
        kind,
        algorithms: vec!["ES256".into(), "RS256".into()],
        audience: AUD.into(),
        max_lifetime_secs: 3600,
        single_use_jti: single_use,
    }
}

fn keys(key: &ClientKey) -> ClientKeys {
    let mut jwk = key.public_jwk();
    jwk["kid"] = json!("k1");
    parse_client_jwks(&json!({ "keys": [jwk] }).to_string()).unwrap()
}

fn claims() -> Value {
    json!({"iss": K8S, "sub": SUB, "aud": [AUD], "exp": NOW + 600, "iat": NOW - 10,
           "nbf": NOW - 10, "jti": "t-1",
           "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder"}}})
}

fn check_with(iss: &TrustedIssuer, alg: &str, claims: &Value) -> Result<VerifiedPlatformToken, R> {
    let key = ClientKey::es256();
    let jws = key.jws(alg, &json!({"alg": alg, "kid": "k1"}), claims);
    PlatformTokenVerifier::default().check(&jws, iss, &keys(&key), 5, Timestamp::from_secs(NOW))
}

fn check(claims: &Value) -> Result<VerifiedPlatformToken, R> {
    check_with(&issuer(IssuerKind::Oidc, false), "ES256", claims)
}

#[test]
fn a_valid_token_gives_its_subject_and_claims_as_canonical_json() {
    let got = check(&claims()).unwrap();
    assert_eq!(got.identity.subject, SUB);
    assert_eq!(got.identity.claims["jti"], "\"t-1\"");
    assert_eq!(
        got.identity.claims["kubernetes.io"],
        r#"{"namespace":"ci","serviceaccount":{"name":"builder"}}"#
    );
    assert_eq!(got.replay_key, None, "jti not single-use: no replay key");
}

#[test]
fn each_check_refuses_on_its_own() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, R); 11] = [
        (
            "other iss",
            |c| c["iss"] = json!("https://evil"),
            R::UntrustedIssuer,
        ),
        (
            "no iss",
            |c| drop(c.as_object_mut().map(|o| o.remove("iss"))),
            R::UntrustedIssuer,
        ),
        (
            "no sub",
            |c| drop(c.as_object_mut().map(|o| o.remove("sub"))),
            R::SubjectMismatch,
        ),
        ("empty sub", |c| c["sub"] = json!(""), R::SubjectMismatch),
        (
            "wrong aud",
            |c| c["aud"] = json!("https://other"),
            R::WrongAudience,
        ),
        (
            "two auds",
            |c| c["aud"] = json!([AUD, "x"]),
            R::WrongAudience,
        ),
        ("expired", |c| c["exp"] = json!(NOW - 1), R::Expired),
        (
            "no exp",
            |c| drop(c.as_object_mut().map(|o| o.remove("exp"))),
            R::Expired,
        ),
        (
            "too long",
            |c| c["exp"] = json!(NOW - 10 + 3601),
            R::TooLongLived,
        ),
        ("iat ahead", |c| c["iat"] = json!(NOW + 6), R::NotYetValid),
        ("nbf ahead", |c| c["nbf"] = json!(NOW + 6), R::NotYetValid),
    ];
    for (what, edit, want) in cases {
        let mut c = claims();
        edit(&mut c);
        assert_eq!(check(&c).err(), Some(want), "{what}");
    }
    // At the bounds: exactly the max lifetime and exactly the skew pass.
    let mut c = claims();
    c["exp"] = json!(NOW - 10 + 3600);
    c["iat"] = json!(NOW - 10);
    assert!(check(&c).is_ok());
    c["nbf"] = json!(NOW + 5);
    assert!(check(&c).is_ok());
}

#[test]
fn algorithms_are_the_issuers_and_the_keys() {
    let mut only_rs = issuer(IssuerKind::Oidc, false);
    only_rs.algorithms = vec!["RS256".into()];
    assert_eq!(
        check_with(&only_rs, "ES256", &claims()).err(),
        Some(R::UnsupportedAlgorithm)
    );
    for alg in ["none", "HS256"] {
        let mut any = issuer(IssuerKind::Oidc, false);
        any.algorithms = vec![alg.into(), "ES256".into()];
        let key = ClientKey::es256();
        let jws = key.jws("ES256", &json!({"alg": alg, "kid": "k1"}), &claims());
        let got = PlatformTokenVerifier::default().check(
            &jws,
            &any,
            &keys(&key),
            5,
            Timestamp::from_secs(NOW),
        );
        assert_eq!(got.err(), Some(R::UnsupportedAlgorithm), "{alg}");
    }
    // Signed by another key of the same type: the signature fails.
    let key = ClientKey::es256();
    let jws = ClientKey::es256().jws("ES256", &json!({"alg": "ES256", "kid": "k1"}), &claims());
    let got = PlatformTokenVerifier::default().check(
        &jws,
        &issuer(IssuerKind::Oidc, false),
        &keys(&key),
        5,
        Timestamp::from_secs(NOW),
    );
    assert_eq!(got.err(), Some(R::BadSignature));
}

#[test]
fn single_use_issuers_need_a_jti_and_give_a_replay_key_per_issuer_and_jti() {
    let single = issuer(IssuerKind::Oidc, true);
    let a = check_with(&single, "ES256", &claims()).unwrap().replay_key;
    assert_eq!(a.as_ref().map(String::len), Some(43));
    let mut other = claims();
    other["jti"] = json!("t-2");
    let b = check_with(&single, "ES256", &other).unwrap().replay_key;
    assert_ne!(a, b);
    let mut none = claims();
    none.as_object_mut().map(|o| o.remove("jti"));
    assert_eq!(
        check_with(&single, "ES256", &none).err(),
        Some(R::MissingJti)
    );
    // Not single-use: no jti needed.
    assert!(check(&none).is_ok());
}

#[test]
fn spiffe_tokens_are_found_by_trust_domain_and_need_no_iss() {
    let spire = issuer(IssuerKind::Spiffe, false);
    let mut c = claims();
    c.as_object_mut().map(|o| o.remove("iss"));
    c["sub"] = json!("spiffe://example.org/ns/ci/sa/builder");
    assert_eq!(
        check_with(&spire, "ES256", &c).unwrap().identity.subject,
        "spiffe://example.org/ns/ci/sa/builder"
    );
    c["sub"] = json!("spiffe://example.org.evil/ns/ci");
    assert_eq!(
        check_with(&spire, "ES256", &c).err(),
        Some(R::SubjectMismatch)
    );
}

#[test]
fn peek_reads_iss_sub_and_kid_unverified() {
    let key = ClientKey::es256();
    let jws = key.jws("ES256", &json!({"alg": "ES256", "kid": "k9"}), &claims());
    let p = PlatformTokenVerifier::default().peek(&jws).unwrap();
    assert_eq!(
        (p.iss.as_deref(), p.sub.as_deref(), p.kid.as_deref()),
        (Some(K8S), Some(SUB), Some("k9"))
    );
    assert_eq!(
        PlatformTokenVerifier::default().peek("a.b").err(),
        Some(R::Malformed)
    );
}
