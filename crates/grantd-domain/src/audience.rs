//! Token audiences (`aud`): the known names, custom resource audiences, and the rules that turn
//! a request's `audience`/`resource` parameters into the token's audience list.

use std::fmt;

use crate::error::{DomainError, InvalidRequest, TargetProblem};

/// The audience of grantd's own admin HTTP API: the admin scopes require it, and every
/// configuration allows it (as `hook`), so an admin token is for that API and nothing else.
pub const ADMIN_AUDIENCE: &str = "grantd-admin";

/// An audience value. The well-known names of the system grantd replaces are variants; any
/// other string is a custom resource audience.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    Web,
    Api,
    A2a,
    Mcp,
    Internal,
    Bridge,
    Hook,
    Custom(String),
}

impl Audience {
    pub fn parse(s: &str) -> Self {
        match s {
            "web" => Audience::Web,
            "api" => Audience::Api,
            "a2a" => Audience::A2a,
            "mcp" => Audience::Mcp,
            "internal" => Audience::Internal,
            "bridge" => Audience::Bridge,
            "hook" => Audience::Hook,
            other => Audience::Custom(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Audience::Web => "web",
            Audience::Api => "api",
            Audience::A2a => "a2a",
            Audience::Mcp => "mcp",
            Audience::Internal => "internal",
            Audience::Bridge => "bridge",
            Audience::Hook => "hook",
            Audience::Custom(s) => s,
        }
    }

    /// Whether the string can be an audience at all: 1–512 printable ASCII characters without
    /// spaces (so it survives logs, JSON and space-joined lists unchanged).
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty() && s.len() <= 512 && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a token request said about its audience: the seed's `audience` parameter (at most one,
/// the HTTP layer rejects repeats) and RFC 8707 `resource` parameters (may repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AudienceRequest<'a> {
    pub audience: Option<&'a str>,
    pub resources: Vec<&'a str>,
}

/// The operator's audience configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudienceRules {
    defaults: Vec<Audience>,
    allowed: Vec<Audience>,
}

impl AudienceRules {
    /// `defaults` is the token audience when a request names none (must not be empty);
    /// `allowed` the audiences a request may name. `hook` is always requestable, as in the
    /// seed, since hook scopes cannot be used without it; nor is [`ADMIN_AUDIENCE`], for the
    /// same reason with the admin scopes.
    pub fn new(defaults: Vec<Audience>, allowed: Vec<Audience>) -> Result<Self, String> {
        if defaults.is_empty() {
            return Err("the default audience list must not be empty".to_owned());
        }
        for a in defaults.iter().chain(allowed.iter()) {
            if !Audience::is_valid(a.as_str()) {
                return Err(format!("{:?} is not a valid audience", a.as_str()));
            }
        }
        let mut allowed_dedup: Vec<Audience> = Vec::with_capacity(allowed.len() + 1);
        let always = [Audience::Hook, Audience::Custom(ADMIN_AUDIENCE.to_owned())];
        for a in allowed.into_iter().chain(always) {
            if !allowed_dedup.contains(&a) {
                allowed_dedup.push(a);
            }
        }
        let mut defaults_dedup: Vec<Audience> = Vec::with_capacity(defaults.len());
        for a in defaults {
            if !defaults_dedup.contains(&a) {
                defaults_dedup.push(a);
            }
        }
        Ok(Self {
            defaults: defaults_dedup,
            allowed: allowed_dedup,
        })
    }

    pub fn defaults(&self) -> &[Audience] {
        &self.defaults
    }

    pub fn allowed(&self) -> &[Audience] {
        &self.allowed
    }

    /// Resolves the token audience for a request.
    ///
    /// * each `resource` must be an absolute URI without a fragment, and all of them must name
    ///   one value (RFC 8707 §2): otherwise `invalid_target`;
    /// * `audience` and `resource` both given and different: `invalid_request`;
    /// * the named value must be in the allow-list: otherwise `invalid_target`;
    /// * nothing named: the default list.
    pub fn resolve(&self, req: &AudienceRequest<'_>) -> Result<Vec<Audience>, DomainError> {
        let mut resource: Option<&str> = None;
        for r in &req.resources {
            if !is_absolute_uri_without_fragment(r) {
                return Err(DomainError::InvalidTarget(
                    TargetProblem::ResourceNotAbsoluteUri((*r).to_owned()),
                ));
            }
            match resource {
                None => resource = Some(r),
                Some(prev) if prev == *r => {}
                Some(_) => {
                    return Err(DomainError::InvalidTarget(TargetProblem::MultipleResources));
                }
            }
        }
        let named = match (req.audience, resource) {
            (Some(a), Some(r)) if a != r => {
                return Err(DomainError::InvalidRequest(
                    InvalidRequest::AudienceResourceConflict,
                ));
            }
            (Some(a), _) => Some(a),
            (None, r) => r,
        };
        let Some(value) = named else {
            return Ok(self.defaults.clone());
        };
        match self.allowed.iter().find(|a| a.as_str() == value) {
            Some(a) => Ok(vec![a.clone()]),
            None => Err(DomainError::InvalidTarget(TargetProblem::NotAllowed(
                truncate(value, 128),
            ))),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// RFC 3986 absolute URI (`scheme ":" hier-part`), no fragment, no whitespace or controls.
fn is_absolute_uri_without_fragment(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.bytes();
    let scheme_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    scheme_ok
        && !rest.is_empty()
        && !s.contains('#')
        && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AudienceRules {
        let allowed = ["api", "mcp", "a2a", "https://orders.example.com"]
            .map(Audience::parse)
            .to_vec();
        AudienceRules::new(vec![Audience::Api, Audience::Web], allowed).unwrap()
    }

    #[test]
    fn known_names_round_trip() {
        for s in [
            "web", "api", "a2a", "mcp", "internal", "bridge", "hook", "orders",
        ] {
            assert_eq!(Audience::parse(s).as_str(), s);
        }
        assert_eq!(Audience::parse("orders"), Audience::Custom("orders".into()));
        assert_eq!(Audience::parse("Hook"), Audience::Custom("Hook".into()));
    }

    #[test]
    fn hook_is_always_allowed_and_defaults_required() {
        let r = AudienceRules::new(vec![Audience::Api], vec![]).unwrap();
        assert_eq!(
            r.allowed(),
            &[Audience::Hook, Audience::Custom(ADMIN_AUDIENCE.into())]
        );
        assert!(AudienceRules::new(vec![], vec![Audience::Api]).is_err());
        assert!(AudienceRules::new(vec![Audience::Custom("a b".into())], vec![]).is_err());
    }

    #[test]
    fn resolution_table() {
        let r = rules();
        let target = |p| Err(DomainError::InvalidTarget(p));
        type Case = (
            Option<&'static str>,
            Vec<&'static str>,
            Result<Vec<Audience>, DomainError>,
        );
        let cases: Vec<Case> = vec![
            (None, vec![], Ok(vec![Audience::Api, Audience::Web])),
            (Some("mcp"), vec![], Ok(vec![Audience::Mcp])),
            (Some("hook"), vec![], Ok(vec![Audience::Hook])),
            (
                Some("web"),
                vec![],
                target(TargetProblem::NotAllowed("web".into())),
            ),
            (
                Some("nope"),
                vec![],
                target(TargetProblem::NotAllowed("nope".into())),
            ),
            (
                None,
                vec!["https://orders.example.com"],
                Ok(vec![Audience::Custom("https://orders.example.com".into())]),
            ),
            (
                None,
                vec!["https://orders.example.com", "https://orders.example.com"],
                Ok(vec![Audience::Custom("https://orders.example.com".into())]),
            ),
            (
                None,
                vec!["https://a.example", "https://b.example"],
                target(TargetProblem::MultipleResources),
            ),
            (
                None,
                vec!["api"],
                target(TargetProblem::ResourceNotAbsoluteUri("api".into())),
            ),
            (
                None,
                vec!["https://orders.example.com#frag"],
                target(TargetProblem::ResourceNotAbsoluteUri(
                    "https://orders.example.com#frag".into(),
                )),
            ),
            (
                None,
                vec!["https://other.example"],
                target(TargetProblem::NotAllowed("https://other.example".into())),
            ),
            (
                Some("https://orders.example.com"),
                vec!["https://orders.example.com"],
                Ok(vec![Audience::Custom("https://orders.example.com".into())]),
            ),
            (
                Some("api"),
                vec!["https://orders.example.com"],
                Err(DomainError::InvalidRequest(
                    InvalidRequest::AudienceResourceConflict,
                )),
            ),
        ];
        for (audience, resources, want) in cases {
            let req = AudienceRequest {
                audience,
                resources: resources.clone(),
            };
            assert_eq!(
                r.resolve(&req),
                want,
                "audience={audience:?} resources={resources:?}"
            );
        }
    }

    #[test]
    fn absolute_uris() {
        for (s, ok) in [
            ("https://x.example/path?q=1", true),
            ("urn:example:orders", true),
            ("x:", false),
            ("://x", false),
            ("1http://x", false),
            ("relative/path", false),
            ("https://x.example/a b", false),
            ("https://x#", false),
        ] {
            assert_eq!(is_absolute_uri_without_fragment(s), ok, "{s}");
        }
    }
}
