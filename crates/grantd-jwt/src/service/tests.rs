//! Tests of the key ring and `TokenSigner` against the in-memory key store: round trips for
//! each algorithm, independent verification through the JWKS, every rejection, rotation and
//! replicas sharing one store.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use grantd_domain::{
    AccessTokenClaims, ClientId, Jti, Kid, SessionId, Subject, Timestamp, Ttl, UserId,
};
use grantd_fakes::MemKeys;
use grantd_ports::{
    Clock as _, KeyState, SignError, SigningAlgorithm, SigningKeyRecord, SigningKeyStore,
    StoreError, TokenSigner, VerifyError,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::*;
use crate::SystemClock;
use crate::ring::LoadedKey;

const ISSUER: &str = "https://auth.example.test";
const TTL: u32 = 3600;
const NOW: Timestamp = Timestamp::from_micros(1_800_000_000_250_000);

fn config(algorithm: SigningAlgorithm) -> JwtConfig {
    JwtConfig {
        issuer: ISSUER.to_owned(),
        algorithm,
    }
}

/// When a key retired at `now` stops being published: the longest token lifetime plus a
/// margin, as the key-administration use case computes it.
fn retire_at(now: Timestamp) -> Timestamp {
    now.plus_secs(i64::from(TTL) + 300)
}

async fn started(algorithm: SigningAlgorithm) -> (JwtService, Arc<MemKeys>, MasterKey) {
    let store = Arc::new(MemKeys::default());
    let master = MasterKey::generate();
    let svc = JwtService::new(config(algorithm), master.clone(), store.clone());
    svc.init(NOW).await.unwrap();
    (svc, store, master)
}

/// `act`: `Some` when the owner is the subject and the client (`cl_client`) its actor.
fn claims_at(now: Timestamp, plugin: Option<&str>, act: Option<&str>) -> AccessTokenClaims {
    let (iat, exp) = AccessTokenClaims::times(now, Ttl::from_secs(u64::from(TTL)).unwrap());
    let owner = UserId::parse("7f9c24e8-3b12-4fef-91e0-3a6b6b1c2d4e").unwrap();
    AccessTokenClaims {
        iss: ISSUER.to_owned(),
        subject: act.map_or(Subject::Client, |_| Subject::Owner(owner)),
        aud: vec!["api".to_owned(), "mcp".to_owned()],
        exp,
        iat,
        nbf: iat,
        jti: Jti::parse("0b7d4c1e-6f1a-4b8e-9a39-2a4c5f7d8e90").unwrap(),
        client_id: ClientId::parse("cl_client").unwrap(),
        scope: "orders:read orders:write".to_owned(),
        session_id: SessionId::parse("sess_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f").unwrap(),
        plugin_id: plugin.map(str::to_owned),
        cnf_jkt: None,
    }
}

fn claims() -> AccessTokenClaims {
    claims_at(NOW, None, Some("cl_client"))
}

fn b64(part: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap()
}

fn enc(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none());
    (
        serde_json::from_slice(&b64(h)).unwrap(),
        serde_json::from_slice(&b64(p)).unwrap(),
        s.to_owned(),
    )
}

fn active_kid(svc: &JwtService) -> Kid {
    svc.current().active.as_ref().unwrap().kid.clone()
}

fn jwks(svc: &JwtService) -> Vec<Value> {
    svc.public_jwks()
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect()
}

fn jwks_kids(svc: &JwtService) -> Vec<String> {
    jwks(svc)
        .iter()
        .map(|j| j["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn jwt_algorithm(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        SigningAlgorithm::Rs256 => Algorithm::RS256,
    }
}

/// jsonwebtoken's header for what `key` signs: `typ`, `alg`, `kid`.
fn jwt_header(key: &LoadedKey) -> Header {
    let mut header = Header::new(jwt_algorithm(key.algorithm));
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.to_string());
    header
}

/// jsonwebtoken's signing key with `key`'s private key, so tests can sign independently of
/// `jws`. Its aws-lc RSA signer wants PKCS#1, which its PEM reader unwraps from PKCS#8.
fn jwt_encoding_key(key: &LoadedKey) -> EncodingKey {
    let der = key.material.jws.private_pkcs8();
    match key.algorithm {
        SigningAlgorithm::Es256 => EncodingKey::from_ec_der(&der),
        SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(&der),
        SigningAlgorithm::Rs256 => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
            let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap());
                pem.push('\n');
            }
            pem.push_str("-----END PRIVATE KEY-----\n");
            EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
        }
    }
}

/// Signs arbitrary header and claims with the service's active private key, to build tokens
/// grantd itself would never issue.
fn sign_raw(svc: &JwtService, header: &Header, claims: &Value) -> String {
    let ring = svc.current();
    let key = ring.active.as_ref().unwrap();
    jsonwebtoken::encode(header, claims, &jwt_encoding_key(key)).unwrap()
}

fn active_header(svc: &JwtService) -> Header {
    jwt_header(svc.current().active.as_ref().unwrap())
}

#[tokio::test]
async fn sign_and_verify_round_trip_for_each_algorithm() {
    for alg in SigningAlgorithm::ALL {
        let (svc, _, _) = started(alg).await;
        for c in [
            claims(),
            claims_at(NOW, Some("plugin-7"), None),
            claims_at(NOW, Some("p"), Some("cl_client")),
        ] {
            let signed = svc.sign(&c).unwrap();
            assert_eq!(signed.kid, active_kid(&svc));
            assert_eq!(svc.verify(&signed.token, NOW), Ok(c), "{alg}");

            let (header, _, _) = parts(&signed.token);
            assert_eq!(
                header,
                json!({"typ": "at+jwt", "alg": alg.as_str(), "kid": signed.kid.as_str()}),
                "{alg}"
            );
        }
    }
}

#[tokio::test]
async fn tokens_verify_independently_through_the_published_jwks() {
    for alg in SigningAlgorithm::ALL {
        let (svc, _, _) = started(alg).await;
        // Real time, so the independent validation below can use its default clock checks.
        let now = SystemClock.now();
        let c = claims_at(now, None, Some("cl_client"));
        let signed = svc.sign(&c).unwrap();

        // What a resource server does: fetch the JWKS, pick the key by kid, pin its algorithm.
        let document = format!("{{\"keys\":[{}]}}", svc.public_jwks().join(","));
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&document).unwrap();
        let jwk = set.find(signed.kid.as_str()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let pinned = match alg {
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
            SigningAlgorithm::Rs256 => Algorithm::RS256,
        };
        let mut validation = Validation::new(pinned);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&["api"]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(&signed.token, &key, &validation)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(data.claims["jti"], c.jti.as_str());

        // A key of the same kind but not ours does not verify it.
        let (stranger, _, _) = started(alg).await;
        let document = format!("{{\"keys\":[{}]}}", stranger.public_jwks().join(","));
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&document).unwrap();
        let other = DecodingKey::from_jwk(&set.keys[0]).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&signed.token, &other, &validation).is_err());
    }
}

#[tokio::test]
async fn jwks_publishes_public_members_only() {
    for alg in SigningAlgorithm::ALL {
        let (svc, store, _) = started(alg).await;
        let keys = jwks(&svc);
        assert_eq!(keys.len(), 2, "active and next");
        assert_eq!(keys[0]["kid"], active_kid(&svc).as_str(), "active first");
        for jwk in &keys {
            for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
                assert!(jwk.get(private).is_none(), "{alg}: {private} published");
            }
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], alg.as_str());
        }
        // The stored public JWK is the published one, and nothing stored is a plaintext key.
        for record in store.snapshot() {
            let stored: Value = serde_json::from_str(&record.public_jwk).unwrap();
            assert!(keys.contains(&stored));
            assert_eq!(record.encrypted_private_key[0], 1, "blob version");
        }
    }
}

#[tokio::test]
async fn claims_are_exactly_the_profile() {
    let (svc, _, _) = started(SigningAlgorithm::Es256).await;
    let iat = NOW.as_secs();
    let base = json!({
        "iss": ISSUER,
        "sub": "7f9c24e8-3b12-4fef-91e0-3a6b6b1c2d4e",
        "aud": ["api", "mcp"],
        "exp": iat + i64::from(TTL),
        "iat": iat,
        "nbf": iat,
        "jti": "0b7d4c1e-6f1a-4b8e-9a39-2a4c5f7d8e90",
        "client_id": "cl_client",
        "scope": "orders:read orders:write",
        "session_id": "sess_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
    });
    let with = |extra: Value| {
        let mut v = base.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let cases = [
        // No actor: the client is the subject.
        (
            claims_at(NOW, None, None),
            with(json!({"sub": "cl_client"})),
        ),
        (
            claims_at(NOW, None, Some("cl_client")),
            with(json!({"act": {"sub": "cl_client"}})),
        ),
        (
            claims_at(NOW, Some("plug"), None),
            with(json!({"plugin_id": "plug", "sub": "cl_client"})),
        ),
    ];
    for (c, expected) in cases {
        let (_, payload, _) = parts(&svc.sign(&c).unwrap().token);
        assert_eq!(payload, expected);
    }
    // A single audience is still an array.
    let mut one = claims();
    one.aud = vec!["api".to_owned()];
    let (_, payload, _) = parts(&svc.sign(&one).unwrap().token);
    assert_eq!(payload["aud"], json!(["api"]));
}

#[tokio::test]
async fn tampered_tokens_are_bad_signatures() {
    for alg in SigningAlgorithm::ALL {
        let (svc, _, _) = started(alg).await;
        let token = svc.sign(&claims()).unwrap().token;
        let (h, p, s) = {
            let v: Vec<&str> = token.split('.').collect();
            (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
        };

        let mut payload: Value = serde_json::from_slice(&b64(&p)).unwrap();
        payload["scope"] = json!("admin");
        let forged = format!("{h}.{}.{s}", enc(payload.to_string().as_bytes()));
        assert_eq!(
            svc.verify(&forged, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );

        // Flip bits in the middle of the signature (keeps it valid base64url).
        let mut sig = b64(&s);
        let mid = sig.len() / 2;
        sig[mid] ^= 0x55;
        let forged = format!("{h}.{p}.{}", enc(&sig));
        assert_eq!(
            svc.verify(&forged, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );

        let forged = format!("{h}.{p}.");
        assert_eq!(
            svc.verify(&forged, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn malformed_tokens() {
    let (svc, _, _) = started(SigningAlgorithm::EdDsa).await;
    let token = svc.sign(&claims()).unwrap().token;
    for bad in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "....",
        &token[..token.rfind('.').unwrap()],
        &format!("{token}.x"),
    ] {
        let got = svc.verify(bad, NOW);
        assert!(
            matches!(
                got,
                Err(VerifyError::Malformed) | Err(VerifyError::BadSignature)
            ),
            "{bad:?}: {got:?}"
        );
    }
    // Signed by our key but missing a claim grantd always issues.
    let mut header = active_header(&svc);
    header.typ = Some("at+jwt".into());
    let mut payload = serde_json::to_value(crate::claims::OutClaims::from(&claims())).unwrap();
    payload.as_object_mut().unwrap().remove("session_id");
    let token = sign_raw(&svc, &header, &payload);
    assert_eq!(svc.verify(&token, NOW), Err(VerifyError::Malformed));
}

#[tokio::test]
async fn unknown_or_missing_kid_is_unknown_key() {
    let (svc, _, _) = started(SigningAlgorithm::Es256).await;
    let (other, _, _) = started(SigningAlgorithm::Es256).await;
    let foreign = other.sign(&claims()).unwrap().token;
    assert_eq!(svc.verify(&foreign, NOW), Err(VerifyError::UnknownKey));

    let mut header = active_header(&svc);
    header.kid = None;
    let payload = serde_json::to_value(crate::claims::OutClaims::from(&claims())).unwrap();
    let token = sign_raw(&svc, &header, &payload);
    assert_eq!(svc.verify(&token, NOW), Err(VerifyError::UnknownKey));
}

#[tokio::test]
async fn algorithm_confusion_is_rejected() {
    let (svc, _, _) = started(SigningAlgorithm::Rs256).await;
    let kid = active_kid(&svc);
    let payload = serde_json::to_value(crate::claims::OutClaims::from(&claims())).unwrap();

    // HS256 "signed" with the public key as the HMAC secret: the classic confusion attack.
    let jwk_text = &svc.public_jwks()[0];
    for secret in [
        jwk_text.as_bytes().to_vec(),
        b64(jwks(&svc)[0]["n"].as_str().unwrap()),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.to_string());
        let token =
            jsonwebtoken::encode(&header, &payload, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(svc.verify(&token, NOW), Err(VerifyError::BadSignature));
    }

    // alg "none", with and without a signature part.
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": kid.as_str()});
    let unsigned = format!(
        "{}.{}",
        enc(header.to_string().as_bytes()),
        enc(payload.to_string().as_bytes())
    );
    for token in [format!("{unsigned}."), unsigned.clone()] {
        assert!(svc.verify(&token, NOW).is_err(), "{token}");
    }
    assert_eq!(
        svc.verify(&format!("{unsigned}."), NOW),
        Err(VerifyError::Malformed)
    );

    // PS256 is RSA too, but not what this key is pinned to.
    let mut header = active_header(&svc);
    header.alg = Algorithm::PS256;
    let token = sign_raw(&svc, &header, &payload);
    assert_eq!(svc.verify(&token, NOW), Err(VerifyError::BadSignature));
}

#[tokio::test]
async fn time_issuer_and_type_checks() {
    let (svc, _, _) = started(SigningAlgorithm::Es256).await;
    let c = claims();
    let token = svc.sign(&c).unwrap().token;
    let exp = Timestamp::from_secs(c.exp);
    let nbf = Timestamp::from_secs(c.nbf);

    // exp is exclusive, nbf inclusive, no leeway, and `now` is the argument, not the clock.
    assert_eq!(svc.verify(&token, exp), Err(VerifyError::Expired));
    assert_eq!(
        svc.verify(&token, exp.plus_secs(10_000)),
        Err(VerifyError::Expired)
    );
    assert!(
        svc.verify(&token, Timestamp::from_micros(exp.as_micros() - 1))
            .is_ok()
    );
    assert!(svc.verify(&token, nbf).is_ok());
    assert_eq!(
        svc.verify(&token, Timestamp::from_micros(nbf.as_micros() - 1)),
        Err(VerifyError::NotYetValid)
    );

    let mut foreign_iss = claims();
    foreign_iss.iss = "https://evil.example.test".into();
    let token = svc.sign(&foreign_iss).unwrap().token;
    assert_eq!(svc.verify(&token, NOW), Err(VerifyError::WrongIssuer));
    let mut trailing_slash = claims();
    trailing_slash.iss = format!("{ISSUER}/");
    let token = svc.sign(&trailing_slash).unwrap().token;
    assert_eq!(svc.verify(&token, NOW), Err(VerifyError::WrongIssuer));

    let payload = serde_json::to_value(crate::claims::OutClaims::from(&claims())).unwrap();
    for (typ, expected) in [
        (Some("JWT"), Err(VerifyError::WrongType)),
        (None, Err(VerifyError::WrongType)),
        (Some("at+jwt+more"), Err(VerifyError::WrongType)),
        (Some("application/at+jwt"), Ok(())),
        (Some("AT+JWT"), Ok(())),
    ] {
        let mut header = active_header(&svc);
        header.typ = typ.map(str::to_owned);
        let token = sign_raw(&svc, &header, &payload);
        assert_eq!(svc.verify(&token, NOW).map(|_| ()), expected, "{typ:?}");
    }
}

#[tokio::test]
async fn signing_needs_a_loaded_key() {
    let store = Arc::new(MemKeys::default());
    let svc = JwtService::new(
        config(SigningAlgorithm::Es256),
        MasterKey::generate(),
        store,
    );
    assert!(!svc.ready());
    assert_eq!(svc.sign(&claims()), Err(SignError::NoKey));
    assert!(svc.public_jwks().is_empty());
    assert!(matches!(
        svc.rotate(NOW, retire_at(NOW)).await,
        Err(KeyError::NoActiveKey)
    ));
    svc.init(NOW).await.unwrap();
    assert!(svc.ready());
}

#[tokio::test]
async fn init_is_idempotent_and_replicas_share_keys() {
    let (a, store, master) = started(SigningAlgorithm::Es256).await;
    a.init(NOW.plus_secs(5)).await.unwrap();
    let b = JwtService::new(config(SigningAlgorithm::Es256), master, store.clone());
    b.init(NOW.plus_secs(10)).await.unwrap();
    assert_eq!(store.snapshot().len(), 2);
    assert_eq!(store.count(KeyState::Active), 1);
    assert_eq!(store.count(KeyState::Next), 1);
    assert_eq!(active_kid(&a), active_kid(&b));
    let token = a.sign(&claims()).unwrap().token;
    assert!(b.verify(&token, NOW).is_ok());
    assert_eq!(a.public_jwks(), b.public_jwks());

    let summaries = a.key_summaries();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0].state, KeyState::Active);
    assert_eq!(summaries[0].activated_at, Some(NOW));
    assert_eq!(summaries[1].state, KeyState::Next);
    assert!(summaries.iter().all(|s| s.published && s.created_at == NOW));
}

#[tokio::test]
async fn refresh_reuses_loaded_keys() {
    let (svc, _, _) = started(SigningAlgorithm::Rs256).await;
    let before = svc.current().active.clone().unwrap();
    svc.refresh(NOW.plus_secs(30)).await.unwrap();
    let after = svc.current().active.clone().unwrap();
    assert!(
        Arc::ptr_eq(&before, &after),
        "refresh re-decrypted an unchanged key"
    );
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_the_retired_key_expires() {
    let (svc, store, _) = started(SigningAlgorithm::Es256).await;
    let first = active_kid(&svc);
    let next = store
        .snapshot()
        .into_iter()
        .find(|k| k.state == KeyState::Next)
        .unwrap()
        .kid;
    let old = svc.sign(&claims()).unwrap();
    assert_eq!(old.kid, first);

    let t1 = NOW.plus_secs(60);
    let report = svc.rotate(t1, retire_at(t1)).await.unwrap();
    assert_eq!(report.old_active, first);
    assert_eq!(report.new_active, next);
    assert_ne!(report.new_next, next);
    let not_after = retire_at(t1);
    assert_eq!(report.retired_not_after, not_after);

    // New tokens carry the new kid; the old token still verifies; all three keys published.
    let fresh = svc.sign(&claims_at(t1, None, Some("cl_client"))).unwrap();
    assert_eq!(fresh.kid, next);
    assert!(svc.verify(&old.token, t1).is_ok());
    assert!(svc.verify(&fresh.token, t1).is_ok());
    let kids = jwks_kids(&svc);
    assert_eq!(kids.len(), 3);
    assert_eq!(kids[0], next.as_str(), "active first");
    for k in [&first, &next, &report.new_next] {
        assert!(kids.iter().any(|x| x == k.as_str()));
    }
    let states: Vec<_> = svc.key_summaries().iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [KeyState::Retired, KeyState::Active, KeyState::Next]
    );

    // Nothing expires early: deleting now removes nothing.
    assert_eq!(svc.delete_expired(not_after).await.unwrap(), 0);
    assert_eq!(jwks_kids(&svc).len(), 3);

    // Past not_after the retired key is neither accepted nor (after a refresh) published,
    // though it is still stored.
    let later = not_after.plus_secs(1);
    let mut long_lived = claims_at(NOW, None, None);
    long_lived.exp = later.as_secs() + 3600;
    let ring = svc.current();
    let retired = &ring.published[first.as_str()].key;
    let token = jsonwebtoken::encode(
        &jwt_header(retired),
        &crate::claims::OutClaims::from(&long_lived),
        &jwt_encoding_key(retired),
    )
    .unwrap();
    assert!(svc.verify(&token, not_after).is_ok());
    assert_eq!(svc.verify(&token, later), Err(VerifyError::UnknownKey));
    svc.refresh(later).await.unwrap();
    assert_eq!(jwks_kids(&svc).len(), 2);
    assert!(!jwks_kids(&svc).contains(&first.to_string()));
    assert_eq!(store.snapshot().len(), 3);
    let retired_summary = &svc.key_summaries()[0];
    assert_eq!(
        (retired_summary.state, retired_summary.published),
        (KeyState::Retired, false)
    );

    assert_eq!(svc.delete_expired(later).await.unwrap(), 1);
    assert_eq!(store.snapshot().len(), 2);
    assert_eq!(svc.key_summaries().len(), 2);
}

#[tokio::test]
async fn replicas_follow_a_rotation_on_refresh() {
    let (a, store, master) = started(SigningAlgorithm::EdDsa).await;
    let b = JwtService::new(config(SigningAlgorithm::EdDsa), master, store);
    b.init(NOW).await.unwrap();
    let report = a
        .rotate(NOW.plus_secs(1), retire_at(NOW.plus_secs(1)))
        .await
        .unwrap();
    // Before refreshing, b still signs with the old key, and a accepts that.
    let stale = b.sign(&claims()).unwrap();
    assert_eq!(stale.kid, report.old_active);
    assert!(a.verify(&stale.token, NOW).is_ok());
    // b already knew the promoted key as `next`, so it accepts a's new tokens.
    let new = a.sign(&claims()).unwrap();
    assert!(b.verify(&new.token, NOW).is_ok());

    b.refresh(NOW.plus_secs(2)).await.unwrap();
    assert_eq!(b.sign(&claims()).unwrap().kid, report.new_active);
    assert_eq!(a.public_jwks(), b.public_jwks());
}

/// A store where another replica rotates (inserting its own next key) just before ours.
struct RacingStore(Arc<MemKeys>, std::sync::Mutex<Option<SigningKeyRecord>>);

#[async_trait]
impl SigningKeyStore for RacingStore {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.0.list_signing_keys().await
    }
    async fn bootstrap_signing_keys(
        &self,
        active: &SigningKeyRecord,
        next: &SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        self.0.bootstrap_signing_keys(active, next).await
    }
    async fn rotate_signing_keys(
        &self,
        expected_active: &Kid,
        new_next: &SigningKeyRecord,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<Option<Kid>, StoreError> {
        let theirs = self.1.lock().unwrap().take().unwrap();
        let won = self
            .0
            .rotate_signing_keys(expected_active, &theirs, now, retired_not_after)
            .await?;
        assert!(won.is_some());
        self.0
            .rotate_signing_keys(expected_active, new_next, now, retired_not_after)
            .await
    }
    async fn delete_expired_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.0.delete_expired_keys(now).await
    }
}

#[tokio::test]
async fn a_lost_rotation_race_changes_nothing_and_says_so() {
    let inner = Arc::new(MemKeys::default());
    let master = MasterKey::generate();
    // The other replica's new key, sealed under the shared master key.
    let other = JwtService::new(
        config(SigningAlgorithm::Es256),
        master.clone(),
        Arc::new(MemKeys::default()),
    );
    let theirs = other.new_record(KeyState::Next, NOW).await.unwrap();
    let svc = JwtService::new(
        config(SigningAlgorithm::Es256),
        master,
        Arc::new(RacingStore(
            inner.clone(),
            std::sync::Mutex::new(Some(theirs)),
        )),
    );
    svc.init(NOW).await.unwrap();
    let first = active_kid(&svc);
    match svc
        .rotate(NOW.plus_secs(1), retire_at(NOW.plus_secs(1)))
        .await
    {
        Err(KeyError::RotationRaced { active }) => {
            assert_ne!(active, first.as_str());
            assert_eq!(active, active_kid(&svc).as_str(), "reloaded after the race");
        }
        other => panic!("expected RotationRaced, got {other:?}"),
    }
    assert_eq!(inner.count(KeyState::Active), 1);
    assert_eq!(inner.count(KeyState::Next), 1);
    assert_eq!(inner.count(KeyState::Retired), 1);
}

#[tokio::test]
async fn wrong_master_key_cannot_load_the_keys() {
    let (a, store, _) = started(SigningAlgorithm::Es256).await;
    let b = JwtService::new(
        config(SigningAlgorithm::Es256),
        MasterKey::generate(),
        store.clone(),
    );
    let err = b.init(NOW).await.unwrap_err();
    assert!(matches!(err, KeyError::Decrypt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("signing keys cannot be decrypted with this master key"),
        "{err}"
    );
    assert!(!b.ready());
    // No second set of keys was created by the replica that could not read the first.
    assert_eq!(store.snapshot().len(), 2);
    assert!(a.ready());
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_ring_in_force() {
    let (svc, store, _) = started(SigningAlgorithm::Es256).await;
    let kid = active_kid(&svc);
    // Another writer swaps in an active key this master key cannot decrypt.
    {
        let mut keys = store.keys.lock().unwrap();
        for k in keys.iter_mut().filter(|k| k.state == KeyState::Active) {
            let last = k.encrypted_private_key.len() - 1;
            k.encrypted_private_key[last] ^= 1;
        }
    }
    assert!(matches!(
        svc.refresh(NOW).await,
        Err(KeyError::Decrypt { .. })
    ));
    assert!(svc.ready());
    assert_eq!(svc.sign(&claims()).unwrap().kid, kid);
}

#[tokio::test]
async fn changing_the_algorithm_takes_effect_through_rotation() {
    let (es, store, master) = started(SigningAlgorithm::Es256).await;
    let es_token = es.sign(&claims()).unwrap();
    let ed = JwtService::new(config(SigningAlgorithm::EdDsa), master, store);
    ed.init(NOW).await.unwrap();
    // The existing ES256 keys stay in use.
    assert_eq!(ed.sign(&claims()).unwrap().kid, es_token.kid);

    let first = ed
        .rotate(NOW.plus_secs(1), retire_at(NOW.plus_secs(1)))
        .await
        .unwrap();
    assert_eq!(ed.sign(&claims()).unwrap().kid, first.new_active);
    let (header, _, _) = parts(&ed.sign(&claims()).unwrap().token);
    assert_eq!(
        header["alg"], "ES256",
        "the pre-published next key was ES256"
    );

    let second = ed
        .rotate(NOW.plus_secs(2), retire_at(NOW.plus_secs(2)))
        .await
        .unwrap();
    assert_eq!(second.new_active, first.new_next);
    let ed_token = ed.sign(&claims()).unwrap();
    let (header, _, _) = parts(&ed_token.token);
    assert_eq!(header["alg"], "EdDSA");

    // Mixed ring: both verify, each under its own algorithm.
    assert!(ed.verify(&es_token.token, NOW).is_ok());
    assert!(ed.verify(&ed_token.token, NOW).is_ok());
    let algs: Vec<String> = jwks(&ed)
        .iter()
        .map(|j| j["alg"].as_str().unwrap().to_owned())
        .collect();
    assert!(algs.contains(&"ES256".to_owned()) && algs.contains(&"EdDSA".to_owned()));

    // An ES256 signature presented under the EdDSA key's kid is refused before any check.
    let ring = ed.current();
    let es_key = &ring.published[es_token.kid.as_str()].key;
    let mut header = jwt_header(es_key);
    header.kid = Some(ed_token.kid.to_string());
    let payload = serde_json::to_value(crate::claims::OutClaims::from(&claims())).unwrap();
    let token = jsonwebtoken::encode(&header, &payload, &jwt_encoding_key(es_key)).unwrap();
    assert_eq!(ed.verify(&token, NOW), Err(VerifyError::BadSignature));
}

#[tokio::test]
async fn debug_shows_no_key_material() {
    let (svc, store, master) = started(SigningAlgorithm::Rs256).await;
    let d = format!("{svc:?}");
    assert!(d.contains(active_kid(&svc).as_str()));
    assert!(!d.contains("PRIVATE") && !d.contains(&master.to_base64url()));
    let record = format!("{:?}", store.snapshot()[0]);
    assert!(record.contains("<redacted>"));
    assert_eq!(format!("{master:?}"), "MasterKey(<redacted>)");
}

/// A token with exactly these (already encoded) header and payload segments, signed over
/// `header.payload` with the active key by jsonwebtoken, so checks after the signature are
/// reached whatever the segments contain.
fn signed_segments(svc: &JwtService, header: &str, payload: &str) -> String {
    let ring = svc.current();
    let key = ring.active.as_ref().unwrap();
    let input = format!("{header}.{payload}");
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jwt_encoding_key(key),
        jwt_algorithm(key.algorithm),
    )
    .unwrap();
    format!("{input}.{sig}")
}

fn segments(token: &str) -> (String, String, String) {
    let v: Vec<&str> = token.split('.').collect();
    assert_eq!(v.len(), 3);
    (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
}

#[tokio::test]
async fn tokens_are_what_jsonwebtoken_would_produce() {
    let mut escapes = claims_at(NOW, Some("plug\"in"), Some("cl_client"));
    // Quotes, a backslash, a control character and non-ASCII: JSON escapes make the claims
    // longer than the buffer estimate.
    escapes.scope = format!("{}\"\\\n é ✓", "s".repeat(300));
    for alg in SigningAlgorithm::ALL {
        let (svc, _, _) = started(alg).await;
        let ring = svc.current();
        let key = ring.active.as_ref().unwrap();
        for c in [claims(), claims_at(NOW, None, None), escapes.clone()] {
            let ours = svc.sign(&c).unwrap().token;
            let theirs = jsonwebtoken::encode(
                &jwt_header(key),
                &crate::claims::OutClaims::from(&c),
                &jwt_encoding_key(key),
            )
            .unwrap();
            if alg == SigningAlgorithm::Es256 {
                // ECDSA signatures are randomized: the signed parts must be identical, and the
                // signature verifies with jsonwebtoken's own check.
                let (ours_input, ours_sig) = ours.rsplit_once('.').unwrap();
                let (theirs_input, _) = theirs.rsplit_once('.').unwrap();
                assert_eq!(ours_input, theirs_input);
                assert_eq!(ours.len(), theirs.len());
                let jwk = &jwks(&svc)[0];
                let decoding = DecodingKey::from_ec_components(
                    jwk["x"].as_str().unwrap(),
                    jwk["y"].as_str().unwrap(),
                )
                .unwrap();
                assert!(
                    jsonwebtoken::crypto::verify(
                        ours_sig,
                        ours_input.as_bytes(),
                        &decoding,
                        Algorithm::ES256
                    )
                    .unwrap()
                );
            } else {
                // Ed25519 and RSA PKCS#1 v1.5 are deterministic: byte for byte.
                assert_eq!(ours, theirs, "{alg}");
            }
            assert_eq!(svc.verify(&ours, NOW), Ok(c.clone()), "{alg}");
            assert_eq!(svc.verify(&theirs, NOW), Ok(c), "{alg}");
        }
    }
}

#[tokio::test]
async fn compact_form_must_be_three_segments() {
    let (svc, _, _) = started(SigningAlgorithm::EdDsa).await;
    let token = svc.sign(&claims()).unwrap().token;
    let (h, p, s) = segments(&token);
    for bad in [
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}..{s}"),
        format!("{h}..{p}.{s}"),
        format!(".{h}.{p}.{s}"),
        format!("{h}.{p}.{s}.{s}"),
        format!(".{p}.{s}"),
        format!("{h}..{s}"),
        format!("{h}.{p}"),
        "..".to_owned(),
        ".".to_owned(),
        String::new(),
    ] {
        assert_eq!(
            svc.verify(&bad, NOW),
            Err(VerifyError::Malformed),
            "{bad:?}"
        );
    }
    assert!(svc.verify(&token, NOW).is_ok());
}

#[tokio::test]
async fn segments_must_be_strict_base64url() {
    // The key and its kid are random, so one token in a few dozen has no `-` or `_` at all:
    // take a fresh key until the token has one to swap for the standard alphabet.
    let (svc, token) = loop {
        let (svc, _, _) = started(SigningAlgorithm::EdDsa).await;
        let token = svc.sign(&claims()).unwrap().token;
        if token.contains(['-', '_']) {
            break (svc, token);
        }
    };
    let (h, p, s) = segments(&token);
    let std_alphabet = |seg: &str| seg.replace('-', "+").replace('_', "/");
    assert!(
        format!("{h}{p}{s}").contains(['-', '_']),
        "the test needs a URL-safe character somewhere"
    );
    for bad in [
        format!("{h}!.{p}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{s}*"),
        format!("{h}.{p}.{s}=="),
        format!("{h}.{p}.{}", &s[..s.len() - 1]),
    ] {
        assert_eq!(
            svc.verify(&bad, NOW),
            Err(VerifyError::Malformed),
            "{bad:?}"
        );
    }
    // The standard alphabet is not base64url; wherever it changed something, it is refused.
    let std = format!(
        "{}.{}.{}",
        std_alphabet(&h),
        std_alphabet(&p),
        std_alphabet(&s)
    );
    assert!(svc.verify(&std, NOW).is_err());

    // Signed over a payload that is not base64url (or not a JSON object): the signature is
    // good, the payload is still malformed.
    for payload in [
        "!!!!".to_owned(),
        format!("{p}="),
        enc(b"not json"),
        enc(b"[\"https://auth.example.test\"]"),
        enc(b"null"),
    ] {
        let forged = signed_segments(&svc, &h, &payload);
        assert_eq!(
            svc.verify(&forged, NOW),
            Err(VerifyError::Malformed),
            "{payload}"
        );
    }
}

#[tokio::test]
async fn header_must_be_a_json_object_we_understand() {
    let (svc, _, _) = started(SigningAlgorithm::EdDsa).await;
    let token = svc.sign(&claims()).unwrap().token;
    let (_, p, _) = segments(&token);
    let kid = active_kid(&svc);
    let kid = kid.as_str();
    let header = |json: String| signed_segments(&svc, &enc(json.as_bytes()), &p);
    for bad in [
        "not json".to_owned(),
        String::new(),
        "null".to_owned(),
        "\"EdDSA\"".to_owned(),
        // Positionally this would fill alg, kid, typ: serde accepts it for a struct, we do not.
        format!("[\"EdDSA\",\"{kid}\",\"at+jwt\"]"),
        format!("{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\""),
        format!("{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}} trailing"),
        // A duplicated member is ambiguous.
        format!("{{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        // No extension is understood, so any `crit` is refused (RFC 7515 §4.1.11).
        format!("{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\",\"crit\":[\"exp\"]}}"),
        format!("{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\",\"crit\":null}}"),
        format!(
            "{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\",\"b64\":false,\"crit\":[\"b64\"]}}"
        ),
        // No alg, an alg that is not a string, unknown algorithm names.
        format!("{{\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        format!("{{\"alg\":null,\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        format!("{{\"alg\":1,\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        format!("{{\"alg\":\"eddsa\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        format!("{{\"alg\":\"Ed25519\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        format!("{{\"alg\":\"NONE\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
        // A kid or typ that is not a string.
        "{\"alg\":\"EdDSA\",\"kid\":7,\"typ\":\"at+jwt\"}".to_owned(),
        format!("{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":[\"at+jwt\"]}}"),
        // Longer than the header buffer.
        format!(
            "{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\",\"x\":\"{}\"}}",
            "x".repeat(600)
        ),
    ] {
        assert_eq!(
            svc.verify(&header(bad.clone()), NOW),
            Err(VerifyError::Malformed),
            "{bad}"
        );
    }
    // A known algorithm that is not the key's is a forgery attempt, whatever the signature.
    let es = header(format!(
        "{{\"alg\":\"ES256\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"
    ));
    assert_eq!(svc.verify(&es, NOW), Err(VerifyError::BadSignature));

    // Member order, whitespace, unknown members and JSON escapes do not matter.
    for good in [
        format!("{{\"kid\":\"{kid}\",\"typ\":\"at+jwt\",\"alg\":\"EdDSA\"}}"),
        format!(" {{ \"alg\" : \"EdDSA\" , \"kid\" : \"{kid}\" , \"typ\" : \"at+jwt\" }} "),
        format!("{{\"alg\":\"EdDSA\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\",\"cty\":\"x\"}}"),
        format!("{{\"alg\":\"Ed\\u0044SA\",\"kid\":\"{kid}\",\"typ\":\"application\\/at+jwt\"}}"),
    ] {
        assert_eq!(
            svc.verify(&header(good.clone()), NOW),
            Ok(claims()),
            "{good}"
        );
    }
}

#[tokio::test]
async fn signatures_of_the_wrong_size_are_bad_signatures() {
    for alg in SigningAlgorithm::ALL {
        let (svc, _, _) = started(alg).await;
        let token = svc.sign(&claims()).unwrap().token;
        let (h, p, s) = segments(&token);
        let sig = b64(&s);
        for bad in [
            enc(&sig[..sig.len() - 1]),
            enc(&[sig.as_slice(), &[0]].concat()),
            enc(&[0u8; 600]),
            enc(&[0u8; 1]),
        ] {
            assert_eq!(
                svc.verify(&format!("{h}.{p}.{bad}"), NOW),
                Err(VerifyError::BadSignature),
                "{alg}"
            );
        }
    }
}

#[tokio::test]
async fn tokens_longer_than_the_cap_are_refused_before_any_work() {
    let (svc, _, _) = started(SigningAlgorithm::Es256).await;
    let sized = |scope_len: usize| {
        let mut c = claims();
        c.scope = "s".repeat(scope_len);
        (svc.sign(&c).unwrap().token, c)
    };
    // The longest genuine token within the cap verifies; one byte-ish longer does not, although
    // it is signed by our key.
    let mut n = 5000;
    while sized(n + 1).0.len() <= crate::jws::MAX_TOKEN_LEN {
        n += 1;
    }
    let (fits, c) = sized(n);
    assert!(fits.len() <= crate::jws::MAX_TOKEN_LEN && fits.len() > crate::jws::MAX_TOKEN_LEN - 4);
    assert_eq!(svc.verify(&fits, NOW), Ok(c));
    let (over, _) = sized(n + 1);
    assert!(over.len() > crate::jws::MAX_TOKEN_LEN);
    assert_eq!(svc.verify(&over, NOW), Err(VerifyError::Malformed));

    // Megabytes of garbage, with and without dots.
    for huge in [
        "A".repeat(4 << 20),
        ".".repeat(1 << 20),
        format!("{}.{}.", "a".repeat(1 << 20), "b"),
    ] {
        assert_eq!(svc.verify(&huge, NOW), Err(VerifyError::Malformed));
    }
}

#[tokio::test]
async fn verified_tokens_are_remembered_but_every_check_still_runs() {
    let (svc, _, _) = started(SigningAlgorithm::Es256).await;
    let c = claims();
    let token = svc.sign(&c).unwrap().token;
    let exp = Timestamp::from_secs(c.exp);

    // An expired token is refused and not remembered.
    assert_eq!(svc.verify(&token, exp), Err(VerifyError::Expired));
    assert_eq!(svc.verified.len(), 0);

    // The first success is remembered; the second call answers the same from memory.
    assert_eq!(svc.verify(&token, NOW), Ok(c.clone()));
    assert_eq!(svc.verified.len(), 1);
    assert_eq!(svc.verify(&token, NOW), Ok(c.clone()));
    assert_eq!(svc.verified.len(), 1);

    // Time is checked on every call, remembered or not.
    assert_eq!(svc.verify(&token, exp), Err(VerifyError::Expired));
    let before_nbf = Timestamp::from_micros(Timestamp::from_secs(c.nbf).as_micros() - 1);
    assert_eq!(
        svc.verify(&token, before_nbf),
        Err(VerifyError::NotYetValid)
    );

    // Any other bytes are checked in full, and failures are not remembered.
    let (h, p, s) = segments(&token);
    let mut sig = b64(&s);
    sig[3] ^= 0x01;
    let forged = format!("{h}.{p}.{}", enc(&sig));
    assert_eq!(svc.verify(&forged, NOW), Err(VerifyError::BadSignature));
    assert_eq!(svc.verified.len(), 1);

    // A remembered token whose key is no longer accepted is refused: the ring is consulted on
    // every call. Here its key is retired by a rotation and then passes `not_after`.
    let report = svc.rotate(NOW, retire_at(NOW)).await.unwrap();
    assert_eq!(svc.verify(&token, NOW), Ok(c));
    let later = report.retired_not_after.plus_secs(1);
    assert_eq!(svc.verify(&token, later), Err(VerifyError::UnknownKey));
}
