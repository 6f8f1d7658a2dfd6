//! The access token's JSON payload (RFC 9068), to and from `AccessTokenClaims`. Reading a
//! payload back parses its ids here, once, into the domain's types.

use grantd_domain::{AccessTokenClaims, ClientId, Jkt, Jti, SessionId, Subject, UserId};
use grantd_ports::VerifyError;
use serde::{Deserialize, Serialize};

/// What `sign` serializes, borrowing from the domain claims (no copies on the hot path).
/// `aud` is always an array; `plugin_id` and `act` appear only when set.
#[derive(Serialize)]
pub(crate) struct OutClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a [String],
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: &'a str,
    client_id: &'a str,
    scope: &'a str,
    session_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<Actor<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<&'a str>>,
}

/// RFC 7800 `cnf` claim with RFC 9449 §6.1's `jkt`: the DPoP key the token is bound to.
#[derive(Serialize, Deserialize)]
pub(crate) struct Confirmation<S> {
    jkt: S,
}

/// RFC 8693 `act` claim: the party acting for the subject.
#[derive(Serialize, Deserialize)]
pub(crate) struct Actor<S> {
    sub: S,
}

impl OutClaims<'_> {
    /// An upper estimate of the JSON's length, to size its buffer once: the strings plus member
    /// names, quotes, punctuation and three numbers of up to 20 characters. Only JSON escapes
    /// in the strings can make the JSON longer (the buffer then grows).
    pub(crate) fn json_len_estimate(&self) -> usize {
        const FIXED: usize = 200;
        let strings = [
            self.iss,
            self.sub,
            self.jti,
            self.client_id,
            self.scope,
            self.session_id,
            self.plugin_id.unwrap_or_default(),
            self.act.as_ref().map_or("", |a| a.sub),
            self.cnf.as_ref().map_or("", |c| c.jkt),
        ];
        FIXED
            + strings.iter().map(|s| s.len()).sum::<usize>()
            + self.aud.iter().map(|a| a.len() + 3).sum::<usize>()
    }
}

impl<'a> From<&'a AccessTokenClaims> for OutClaims<'a> {
    fn from(c: &'a AccessTokenClaims) -> Self {
        OutClaims {
            iss: &c.iss,
            sub: c.sub(),
            aud: &c.aud,
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            jti: c.jti.as_str(),
            client_id: c.client_id.as_str(),
            scope: &c.scope,
            session_id: c.session_id.as_str(),
            plugin_id: c.plugin_id.as_deref(),
            act: c.act_sub().map(|sub| Actor { sub: sub.as_str() }),
            cnf: c.cnf_jkt.as_ref().map(|j| Confirmation { jkt: j.as_str() }),
        }
    }
}

/// What `verify` reads back. Every claim grantd always issues is required; a token signed by
/// one of our keys without them is malformed.
#[derive(Deserialize)]
pub(crate) struct InClaims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    client_id: String,
    scope: String,
    session_id: String,
    #[serde(default)]
    plugin_id: Option<String>,
    #[serde(default)]
    act: Option<Actor<String>>,
    #[serde(default)]
    cnf: Option<Confirmation<String>>,
}

/// The ids are parsed into their types. grantd signs `sub` = owner with `act.sub` = the client,
/// or `sub` = the client and no `act`; a payload that is neither (or whose ids do not parse)
/// is `Malformed`, as a payload missing a claim is.
impl TryFrom<InClaims> for AccessTokenClaims {
    type Error = VerifyError;

    fn try_from(c: InClaims) -> Result<Self, VerifyError> {
        let client_id = ClientId::parse(&c.client_id).map_err(|_| VerifyError::Malformed)?;
        let subject = match c.act {
            Some(act) if act.sub == c.client_id => {
                Subject::Owner(UserId::parse(&c.sub).map_err(|_| VerifyError::Malformed)?)
            }
            None if c.sub == c.client_id => Subject::Client,
            _ => return Err(VerifyError::Malformed),
        };
        Ok(AccessTokenClaims {
            iss: c.iss,
            subject,
            aud: c.aud,
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            jti: Jti::parse(&c.jti).map_err(|_| VerifyError::Malformed)?,
            client_id,
            scope: c.scope,
            session_id: SessionId::parse(&c.session_id).map_err(|_| VerifyError::Malformed)?,
            plugin_id: c.plugin_id,
            cnf_jkt: match c.cnf {
                Some(cnf) => Some(Jkt::parse(&cnf.jkt).ok_or(VerifyError::Malformed)?),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `act`: whether the owner is the subject (the client then acts for it).
    fn claims(plugin: Option<&str>, act: Option<&str>) -> AccessTokenClaims {
        let owner = UserId::parse("7f9c24e8-3b12-4fef-91e0-3a6b6b1c2d4e").unwrap();
        AccessTokenClaims {
            iss: "https://issuer.test".into(),
            subject: act.map_or(Subject::Client, |_| Subject::Owner(owner)),
            aud: vec!["api".into()],
            exp: 1_700_003_600,
            iat: 1_700_000_000,
            nbf: 1_700_000_000,
            jti: Jti::parse("0b7d4c1e-6f1a-4b8e-9a39-2a4c5f7d8e90").unwrap(),
            client_id: ClientId::parse("cl_abc").unwrap(),
            scope: "a b".into(),
            session_id: SessionId::parse("sess_0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f").unwrap(),
            plugin_id: plugin.map(str::to_owned),
            cnf_jkt: None,
        }
    }

    #[test]
    fn optional_claims_appear_only_when_set() {
        let bare = serde_json::to_value(OutClaims::from(&claims(None, None))).unwrap();
        assert!(bare.get("plugin_id").is_none());
        assert!(bare.get("act").is_none());
        assert_eq!(bare["aud"], serde_json::json!(["api"]));

        let full =
            serde_json::to_value(OutClaims::from(&claims(Some("p1"), Some("cl_abc")))).unwrap();
        assert_eq!(full["plugin_id"], "p1");
        assert_eq!(full["act"], serde_json::json!({"sub": "cl_abc"}));
    }

    #[test]
    fn claims_round_trip() {
        let mut bound = claims(None, None);
        bound.cnf_jkt = Jkt::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        let json = serde_json::to_value(OutClaims::from(&bound)).unwrap();
        assert_eq!(
            json["cnf"],
            serde_json::json!({"jkt": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"})
        );
        for c in [claims(None, None), claims(Some("p"), Some("cl_abc")), bound] {
            let text = serde_json::to_string(&OutClaims::from(&c)).unwrap();
            let back: InClaims = serde_json::from_str(&text).unwrap();
            assert_eq!(AccessTokenClaims::try_from(back), Ok(c));
        }
    }

    #[test]
    fn payloads_grantd_never_signs_are_malformed() {
        let good = serde_json::to_value(OutClaims::from(&claims(None, Some("cl_abc")))).unwrap();
        let with = |key: &str, value: serde_json::Value| {
            let mut v = good.clone();
            v[key] = value;
            let back: InClaims = serde_json::from_value(v).unwrap();
            AccessTokenClaims::try_from(back)
        };
        assert!(
            with("sub", "cl_abc".into()).is_err(),
            "act beside sub = client"
        );
        assert!(with("sub", "not-a-uuid".into()).is_err());
        assert!(with("act", serde_json::json!({"sub": "other"})).is_err());
        assert!(with("session_id", "sess_x".into()).is_err());
        assert!(with("jti", "has space".into()).is_err());
        assert!(with("client_id", "bad id!".into()).is_err());
        let mut no_act = good.clone();
        no_act.as_object_mut().unwrap().remove("act");
        let back: InClaims = serde_json::from_value(no_act).unwrap();
        assert!(
            AccessTokenClaims::try_from(back).is_err(),
            "no act, sub not the client"
        );
        assert!(with("plugin_id", "p".into()).is_ok());
        assert!(with("cnf", serde_json::json!({"jkt": "short"})).is_err());
    }

    #[test]
    fn the_length_estimate_covers_claims_without_escapes() {
        let mut long = claims(Some("plugin"), Some("cl_abc"));
        long.aud = (0..20).map(|i| format!("audience-{i}")).collect();
        long.scope = "scope:x ".repeat(100);
        long.exp = i64::MIN;
        long.iat = i64::MIN;
        long.nbf = i64::MIN;
        for c in [claims(None, None), claims(Some("p"), Some("cl_abc")), long] {
            let out = OutClaims::from(&c);
            let len = serde_json::to_vec(&out).unwrap().len();
            assert!(
                out.json_len_estimate() >= len,
                "{} < {len}",
                out.json_len_estimate()
            );
        }
    }
}
