//! A client's keys: read through the key parser port or as a `jwks_uri` under the loopback
//! rule, bound to an algorithm; replaced only on the state the caller saw (`If-Match`) and by
//! a compare-and-set write; the same keys write nothing.

use grantd_domain::{AssertionAlg, ClientKeys, JwksUriProblem, RegisteredKey};
use grantd_ports::{JwksError, UpdateOutcome};

use super::*;

fn ec_keys(kid: &str) -> ClientKeys {
    ClientKeys::new(vec![RegisteredKey {
        kid: Some(kid.into()),
        kty: "EC".into(),
        alg: None,
        jwk: "{}".into(),
    }])
    .unwrap()
}

fn keyed_client(keys: ClientKeys) -> Client {
    Client {
        auth_method: AuthMethod::PrivateKeyJwt,
        secrets: vec![],
        keys,
        ..client(&["mcp"])
    }
}

/// The JWKS text goes to the parser port as given; its refusal is invalid input naming the
/// parser's reason; an algorithm no key can use is refused.
#[test]
fn a_jwks_is_read_by_the_parser_port_and_bound_to_the_algorithm() {
    let mut fx = Fx::new();
    fx.assertions
        .expect_registration_keys()
        .with(eq("{\"keys\":[1]}"))
        .times(2)
        .returning(|_| Ok(ec_keys("k1")));
    fx.assertions
        .expect_registration_keys()
        .with(eq("dup"))
        .times(1)
        .returning(|_| Err(JwksError::DuplicateKid("k".into())));
    let admin = fx.admin();
    let jwks = KeySource::Jwks("{\"keys\":[1]}".into());
    let got = admin.client_keys(&jwks, Some(AssertionAlg::Es256)).unwrap();
    assert_eq!(got.alg(), Some(AssertionAlg::Es256));
    assert_eq!(got.kids(), vec!["k1".to_owned()]);
    let refused = admin.client_keys(&jwks, Some(AssertionAlg::Rs256));
    assert_eq!(
        refused,
        Err(AdminError::Invalid(InvalidReason::NoKeyForAlg(
            AssertionAlg::Rs256
        )))
    );
    let dup = admin.client_keys(&KeySource::Jwks("dup".into()), None);
    assert_invalid(dup, "share the kid", "duplicate kids");
}

/// A `jwks_uri` must be https, or http to loopback when the configuration allows it.
#[test]
fn a_jwks_uri_follows_the_loopback_rule() {
    let uri = |s: &str| KeySource::Uri(s.into());
    let strict = Fx::new().admin();
    let got = strict.client_keys(&uri("https://client.example/jwks"), None);
    assert_eq!(
        got.map(|k| k.jwks_uri().map(|u| u.as_str().to_owned())),
        Ok(Some("https://client.example/jwks".to_owned()))
    );
    for (text, problem) in [
        ("http://127.0.0.1:9/jwks", JwksUriProblem::HttpNotAllowed),
        (
            "http://client.example/jwks",
            JwksUriProblem::HttpNotLoopback,
        ),
        ("not a url", JwksUriProblem::Malformed),
    ] {
        assert_eq!(
            strict.client_keys(&uri(text), None),
            Err(AdminError::Invalid(InvalidReason::JwksUri {
                uri: text.into(),
                problem
            })),
            "{text}"
        );
    }
    let relaxed = Fx::new().admin().with_jwks_http_loopback(true);
    assert!(
        relaxed
            .client_keys(&uri("http://127.0.0.1:9/jwks"), None)
            .is_ok()
    );
}

/// A precondition that does not hold on the stored client refuses before any write (the
/// mock expects none); so do the same keys (nothing to write: the client as stored).
#[tokio::test]
async fn a_failed_precondition_or_the_same_keys_write_nothing() {
    let stored = keyed_client(ec_keys("k1"));
    let admin = Fx::new().with_client(Some(stored.clone())).admin();
    let never = |_: &Client| false;
    let got = admin
        .set_client_keys("svc-a", ec_keys("k2"), Some(&never))
        .await;
    assert!(matches!(got, Err(AdminError::Stale { .. })), "{got:?}");
    let always = |_: &Client| true;
    let same = admin
        .set_client_keys("svc-a", ec_keys("k1"), Some(&always))
        .await;
    assert_eq!(same, Ok(stored));
}

/// The write is a compare-and-set on the `updated_at` read: another writer in between is
/// stale (412 over HTTP), a client deleted in between is not found.
#[tokio::test]
async fn a_concurrent_change_is_stale_not_overwritten() {
    for (outcome, stale) in [
        (UpdateOutcome::Stale, true),
        (UpdateOutcome::NotFound, false),
    ] {
        let mut fx = Fx::new().with_client(Some(keyed_client(ec_keys("k1"))));
        fx.clients
            .expect_set_client_keys()
            .withf(|_, _, expected, _| *expected == Timestamp::from_secs(0))
            .times(1)
            .returning(move |_, _, _, _| Ok(outcome));
        let got = fx
            .admin()
            .set_client_keys("svc-a", ec_keys("k2"), None)
            .await;
        match stale {
            true => assert!(matches!(got, Err(AdminError::Stale { .. })), "{got:?}"),
            false => assert!(matches!(got, Err(AdminError::NotFound(_))), "{got:?}"),
        }
    }
}
