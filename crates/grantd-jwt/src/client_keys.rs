//! A `private_key_jwt` client's JWKS as registered (RFC 7523, RFC 7517 §5): every member
//! checked by [`PublicJwk`] (public, usable `kty`/`crv`, RSA ≥ 2048 bits), `kid`s unique; and
//! a JWKS as fetched from a `jwks_uri`, under the rule for a document grantd does not control
//! (see [`parse_remote_jwks`]).

use grantd_domain::{ClientKeys, RegisteredKey};
use serde_json::{Map, Value};

use crate::jwk::{JwkError, PublicJwk};

pub use grantd_ports::JwksError;

/// Parses and checks a JWKS document (`{"keys":[…]}`) for registration.
pub fn parse_client_jwks(text: &str) -> Result<ClientKeys, JwksError> {
    let doc: Map<String, Value> = serde_json::from_str(text).map_err(|_| JwksError::NotAJwks)?;
    let members = doc
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or(JwksError::NotAJwks)?;
    let keys = members
        .iter()
        .enumerate()
        .map(|(i, v)| registered(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    ClientKeys::new(keys).map_err(|d| JwksError::DuplicateKid(d.0))
}

/// Parses and checks a JWKS fetched from a `jwks_uri` (a client's or an issuer's). The
/// members are checked by the same parser as a registered JWKS, under a rule fit for a
/// document its publisher may extend with keys grantd cannot use:
///
/// - a member with **private or symmetric** material (`d`, `p`, …, `k`, or `kty: oct`) refuses
///   the **whole document**: a publisher that serves a private key has lost it, and none of
///   its keys should be trusted until it fixes that;
/// - **duplicate kids** refuse the whole document (a verifier could not tell them apart);
/// - a member grantd **cannot use** (another `kty` or curve, RSA below 2048 bits, incomplete
///   members, `"use"` other than `"sig"`) is **skipped**, as RFC 7517 §5 asks of unknown key
///   types; the answer's second value counts the skipped members;
/// - a document left with no usable key is refused.
pub fn parse_remote_jwks(text: &str) -> Result<(ClientKeys, usize), JwksError> {
    let doc: Map<String, Value> = serde_json::from_str(text).map_err(|_| JwksError::NotAJwks)?;
    let members = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NotAJwks)?;
    let mut keys = Vec::with_capacity(members.len());
    let mut skipped = 0;
    for (i, v) in members.iter().enumerate() {
        let not_for_signing = v.get("use").is_some_and(|u| u.as_str() != Some("sig"));
        match registered(i, v) {
            Err(e @ (JwksError::Private(_) | JwksError::Symmetric(_))) => return Err(e),
            Ok(_) if not_for_signing => skipped += 1,
            Ok(key) => keys.push(key),
            Err(_) => skipped += 1,
        }
    }
    if keys.is_empty() {
        return Err(JwksError::NotAJwks);
    }
    let keys = ClientKeys::new(keys).map_err(|d| JwksError::DuplicateKid(d.0))?;
    Ok((keys, skipped))
}

fn registered(i: usize, v: &Value) -> Result<RegisteredKey, JwksError> {
    let m = v.as_object().ok_or(JwksError::Unsupported(i))?;
    PublicJwk::parse(m).map_err(|e| match e {
        JwkError::Private => JwksError::Private(i),
        JwkError::Symmetric => JwksError::Symmetric(i),
        JwkError::Unsupported => JwksError::Unsupported(i),
        JwkError::WeakRsa => JwksError::WeakRsa(i),
    })?;
    let text = |name: &str| m.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(RegisteredKey {
        kid: text("kid"),
        kty: text("kty").ok_or(JwksError::Unsupported(i))?,
        alg: text("alg"),
        jwk: serde_json::to_string(m).map_err(|_| JwksError::Unsupported(i))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec(kid: &str, extra: &str) -> String {
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"{Y}","kid":"{kid}"{extra}}}"#)
    }

    #[test]
    fn a_public_ec_key_registers_with_its_kid() {
        let keys = parse_client_jwks(&format!(r#"{{"keys":[{}]}}"#, ec("a", ""))).unwrap();
        assert_eq!(keys.keys()[0].kid.as_deref(), Some("a"));
        assert_eq!(keys.keys()[0].kty, "EC");
    }

    #[test]
    fn private_symmetric_duplicate_and_empty_sets_are_refused() {
        let one = |k: String| parse_client_jwks(&format!(r#"{{"keys":[{k}]}}"#));
        assert_eq!(one(ec("a", r#","d":"AAAA""#)), Err(JwksError::Private(0)));
        assert_eq!(
            one(r#"{"kty":"oct","k":"c2VjcmV0"}"#.into()),
            Err(JwksError::Symmetric(0))
        );
        assert_eq!(
            one(r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#.into()),
            Err(JwksError::Unsupported(0))
        );
        assert_eq!(
            one(format!("{},{}", ec("a", ""), ec("a", ""))),
            Err(JwksError::DuplicateKid("a".into()))
        );
        assert_eq!(
            parse_client_jwks(r#"{"keys":[]}"#),
            Err(JwksError::NotAJwks)
        );
        assert_eq!(parse_client_jwks("[]"), Err(JwksError::NotAJwks));
    }

    #[test]
    fn a_fetched_jwks_skips_unusable_keys_and_refuses_private_ones() {
        let doc = |members: &[String]| format!(r#"{{"keys":[{}]}}"#, members.join(","));
        let p384 = r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"}"#.to_owned();
        let enc = ec("enc", r#","use":"enc""#);
        let (keys, skipped) =
            parse_remote_jwks(&doc(&[p384.clone(), ec("a", ""), enc.clone()])).unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(keys.keys().len(), 1);
        assert_eq!(keys.keys()[0].kid.as_deref(), Some("a"));
        assert_eq!(
            parse_remote_jwks(&doc(&[ec("a", ""), ec("b", r#","d":"AAAA""#)])),
            Err(JwksError::Private(1))
        );
        assert_eq!(
            parse_remote_jwks(&doc(&[
                ec("a", ""),
                r#"{"kty":"oct","k":"c2VjcmV0"}"#.into()
            ])),
            Err(JwksError::Symmetric(1))
        );
        assert_eq!(
            parse_remote_jwks(&doc(&[ec("a", ""), ec("a", r#","use":"sig""#)])),
            Err(JwksError::DuplicateKid("a".into()))
        );
        assert_eq!(
            parse_remote_jwks(&doc(&[p384, enc])),
            Err(JwksError::NotAJwks)
        );
        assert_eq!(
            parse_remote_jwks(r#"{"keys":[]}"#),
            Err(JwksError::NotAJwks)
        );
        assert_eq!(parse_remote_jwks("<html>"), Err(JwksError::NotAJwks));
    }

    #[test]
    fn a_short_rsa_modulus_is_refused() {
        use base64::Engine as _;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let jwks = format!(r#"{{"keys":[{{"kty":"RSA","n":"{n}","e":"AQAB"}}]}}"#);
        assert_eq!(parse_client_jwks(&jwks), Err(JwksError::WeakRsa(0)));
    }
}
