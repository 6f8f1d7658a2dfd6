//! Scopes: the catalog (built-in scopes plus the operator's), and parsing scope strings.
//!
//! The catalog is data, not a closed enum, so operators can add scopes in config. The built-in
//! entries are fixed: they are the scopes of the system grantd replaces, with the same levels.

use std::fmt;
use std::sync::Arc;

use crate::audience::{ADMIN_AUDIENCE, Audience};
use crate::error::ScopeProblem;

/// Who must hold a scope for a client_credentials token to carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Provisioned on the client; the owner is irrelevant.
    Service,
    /// Delegated authority of the owner: client *and* owner must hold it.
    Delegated,
}

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Service, Tier::Delegated];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Service => "service",
            Tier::Delegated => "delegated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "service" => Some(Tier::Service),
            "delegated" => Some(Tier::Delegated),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One scope of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeDef {
    name: String,
    tier: Tier,
    level: u16,
    requires_audience: Option<Audience>,
}

impl ScopeDef {
    /// A scope definition; the name must be a valid RFC 6749 §3.3 scope token.
    pub fn new(
        name: &str,
        tier: Tier,
        level: u16,
        requires_audience: Option<Audience>,
    ) -> Result<Self, CatalogError> {
        if !is_scope_token(name) {
            return Err(CatalogError::InvalidName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            tier,
            level,
            requires_audience,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    pub fn level(&self) -> u16 {
        self.level
    }

    pub fn requires_audience(&self) -> Option<&Audience> {
        self.requires_audience.as_ref()
    }
}

/// Why a catalog could not be built from the operator's scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogError {
    InvalidName(String),
    RedefinesBuiltin(String),
    Duplicate(String),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::InvalidName(n) => write!(
                f,
                "scope name {n:?} is not a valid scope token (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\')"
            ),
            CatalogError::RedefinesBuiltin(n) => {
                write!(f, "scope {n:?} is built in and cannot be redefined")
            }
            CatalogError::Duplicate(n) => write!(f, "scope {n:?} is defined more than once"),
        }
    }
}

impl std::error::Error for CatalogError {}

/// The scope that lets a client introspect other clients' tokens (RFC 7662 §4), held in its
/// provisioned grant. Service tier: the owner's roles play no part.
pub const INTROSPECT: &str = "introspect";

/// The closed set of scopes of grantd's own admin HTTP API, `grantd:<resource>:<read|write>`.
/// Service tier (a machine administers, no user's authority is lent), lowest level, and bound to
/// [`crate::audience::ADMIN_AUDIENCE`]: a token carrying one is for the admin API only.
pub const ADMIN_SCOPES: [&str; 8] = [
    "grantd:users:read",
    "grantd:users:write",
    "grantd:clients:read",
    "grantd:clients:write",
    "grantd:keys:read",
    "grantd:keys:write",
    "grantd:sessions:read",
    "grantd:sessions:write",
];

/// The scopes grantd knows. Lookups are by exact, case-sensitive name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeCatalog {
    /// Shared, so that scopes parsed from storage ([`StoredScopes`]) can hold on to their
    /// definitions without borrowing the catalog.
    defs: Vec<Arc<ScopeDef>>,
}

/// A reference to a scope of a catalog. Compared by name: a catalog holds each name once.
pub type Scope<'c> = &'c ScopeDef;

impl ScopeCatalog {
    /// The built-in catalog: the seed system's scopes, levels and tiers, exactly, plus
    /// [`INTROSPECT`] and the [`ADMIN_SCOPES`].
    pub fn builtin() -> Self {
        let d = |name: &str, tier, level, aud: Option<Audience>| {
            Arc::new(ScopeDef {
                name: name.to_owned(),
                tier,
                level,
                requires_audience: aud,
            })
        };
        Self {
            defs: vec![
                d("admin", Tier::Delegated, 100, None),
                d("user", Tier::Delegated, 50, None),
                d("service", Tier::Service, 40, None),
                d("a2a", Tier::Service, 30, None),
                d("mcp", Tier::Service, 20, None),
                d("hook:govern", Tier::Service, 15, Some(Audience::Hook)),
                d("hook:track", Tier::Service, 15, Some(Audience::Hook)),
                d("anonymous", Tier::Delegated, 10, None),
                d(INTROSPECT, Tier::Service, 5, None),
            ]
            .into_iter()
            .chain(ADMIN_SCOPES.iter().map(|name| {
                d(
                    name,
                    Tier::Service,
                    1,
                    Some(Audience::Custom(ADMIN_AUDIENCE.to_owned())),
                )
            }))
            .collect(),
        }
    }

    /// The built-in catalog plus the operator's scopes. A custom scope may not reuse a built-in
    /// name, and each name may appear once.
    pub fn with_custom(custom: impl IntoIterator<Item = ScopeDef>) -> Result<Self, CatalogError> {
        let mut catalog = Self::builtin();
        let builtin_len = catalog.defs.len();
        for def in custom {
            if let Some(pos) = catalog.defs.iter().position(|d| d.name == def.name) {
                return Err(if pos < builtin_len {
                    CatalogError::RedefinesBuiltin(def.name)
                } else {
                    CatalogError::Duplicate(def.name)
                });
            }
            catalog.defs.push(Arc::new(def));
        }
        Ok(catalog)
    }

    pub fn get(&self, name: &str) -> Option<Scope<'_>> {
        self.shared(name).map(|d| &**d)
    }

    fn shared(&self, name: &str) -> Option<&Arc<ScopeDef>> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// Every scope, built-ins first, in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = Scope<'_>> {
        self.defs.iter().map(|d| &**d)
    }

    /// Parses a scope string from a request, strictly: tokens are separated by spaces (%x20)
    /// and nothing else, every token must be a syntactically valid scope token and known to the
    /// catalog, otherwise the whole string is rejected naming the first offending token or
    /// separator. Duplicates collapse. A blank string (nothing but spaces, tabs, CRs and LFs)
    /// requests nothing ([`RequestedScopes::is_empty`]), as an absent one.
    ///
    /// RFC 6749 §3.3's grammar is `scope-token *( SP scope-token )`. In a value that names a
    /// token, tab, CR and LF are refused by name ([`ScopeProblem::Separator`]): they are not
    /// separators there, and a scope string is echoed into logs and descriptions. Tolerated on purpose, because the
    /// project's tests have always accepted them and no reading of such a string can differ
    /// from ours: runs of spaces, leading or trailing spaces (`"service  mcp"`, SP is the one
    /// separator either way), and a blank value (`"  "`, `" \t"`: it names no token at all, so
    /// it is the omitted parameter of RFC 6749 §3.3, answered with the client's default).
    pub fn parse_request<'c>(&'c self, s: &str) -> Result<RequestedScopes<'c>, ScopeProblem> {
        const BLANK: [char; 4] = [' ', '\t', '\n', '\r'];
        if s.trim_matches(BLANK).is_empty() {
            return Ok(RequestedScopes { scopes: Vec::new() });
        }
        if let Some(c) = s.chars().find(|c| matches!(c, '\t' | '\n' | '\r')) {
            return Err(ScopeProblem::Separator(c));
        }
        let mut scopes: Vec<Scope<'c>> = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return Err(ScopeProblem::Malformed(token.to_owned()));
            }
            let Some(def) = self.get(token) else {
                return Err(ScopeProblem::Unknown(token.to_owned()));
            };
            if !scopes.iter().any(|s| s.name == def.name) {
                scopes.push(def);
            }
        }
        Ok(RequestedScopes { scopes })
    }

    /// Parses stored scopes or roles leniently: unknown or malformed strings are dropped,
    /// duplicates collapse, order is kept.
    pub fn parse_lenient<'c, S: AsRef<str>>(&'c self, items: &[S]) -> Vec<Scope<'c>> {
        let mut scopes: Vec<Scope<'c>> = Vec::with_capacity(items.len());
        for item in items {
            if let Some(def) = self.get(item.as_ref().trim())
                && !scopes.iter().any(|s| s.name == def.name)
            {
                scopes.push(def);
            }
        }
        scopes
    }
}

/// Scopes read from storage (a client's provisioned grant), parsed once against the catalog in
/// force when they were loaded, so that no request parses them again.
///
/// A stored name the catalog does not know (a custom scope since removed from the
/// configuration, or a value written by hand) grants nothing, as it never could be requested;
/// it is kept apart, verbatim, so that an operator still sees it (`client show`, `explain`) and
/// writing the client back does not lose it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredScopes {
    known: Vec<Arc<ScopeDef>>,
    unknown: Vec<String>,
}

impl StoredScopes {
    /// Parses stored names leniently: each is trimmed and looked up; known scopes keep their
    /// first position and collapse when repeated; blank entries are dropped.
    pub fn parse<S: AsRef<str>>(catalog: &ScopeCatalog, items: &[S]) -> Self {
        let mut out = StoredScopes {
            known: Vec::with_capacity(items.len()),
            unknown: Vec::new(),
        };
        for item in items {
            let name = item.as_ref().trim();
            match catalog.shared(name) {
                Some(def) => {
                    if !out.contains(name) {
                        out.known.push(Arc::clone(def));
                    }
                }
                None if name.is_empty() => {}
                None => out.unknown.push(name.to_owned()),
            }
        }
        out
    }

    /// The scopes of the catalog, in stored order, without repeats.
    pub fn known(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + Clone {
        self.known.iter().map(|d| &**d)
    }

    /// Stored names the catalog did not know when they were loaded.
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// Whether nothing at all was stored.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty() && self.unknown.is_empty()
    }

    /// Whether `name` is one of the known scopes.
    pub fn contains(&self, name: &str) -> bool {
        self.known.iter().any(|d| d.name == name)
    }

    /// Every stored name, known ones first: what an operator sees and what is written back.
    pub fn names(&self) -> Vec<&str> {
        self.known
            .iter()
            .map(|d| d.name())
            .chain(self.unknown.iter().map(String::as_str))
            .collect()
    }
}

/// Scopes named by a request, deduplicated, in the order they were given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedScopes<'c> {
    scopes: Vec<Scope<'c>>,
}

impl<'c> RequestedScopes<'c> {
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    pub fn as_slice(&self) -> &[Scope<'c>] {
        &self.scopes
    }

    pub fn into_vec(self) -> Vec<Scope<'c>> {
        self.scopes
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Joins scope names with single spaces (the OAuth `scope` format).
pub fn join(scopes: &[Scope<'_>]) -> String {
    let mut out = String::new();
    for (i, s) in scopes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&s.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[Scope<'_>]) -> Vec<String> {
        v.iter().map(|s| s.name().to_owned()).collect()
    }

    #[test]
    fn builtin_catalog_is_the_seed_catalog_plus_introspect() {
        let c = ScopeCatalog::builtin();
        let table: &[(&str, Tier, u16, Option<Audience>)] = &[
            ("admin", Tier::Delegated, 100, None),
            ("user", Tier::Delegated, 50, None),
            ("anonymous", Tier::Delegated, 10, None),
            ("service", Tier::Service, 40, None),
            ("a2a", Tier::Service, 30, None),
            ("mcp", Tier::Service, 20, None),
            ("hook:govern", Tier::Service, 15, Some(Audience::Hook)),
            ("hook:track", Tier::Service, 15, Some(Audience::Hook)),
            ("introspect", Tier::Service, 5, None),
        ];
        assert_eq!(c.iter().count(), table.len() + ADMIN_SCOPES.len());
        let admin = Audience::Custom(ADMIN_AUDIENCE.to_owned());
        for name in ADMIN_SCOPES {
            let d = c.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                (d.tier(), d.level(), d.requires_audience()),
                (Tier::Service, 1, Some(&admin)),
                "{name}"
            );
        }
        for (name, tier, level, aud) in table {
            let d = c.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                (d.tier(), d.level(), d.requires_audience()),
                (*tier, *level, aud.as_ref()),
                "{name}"
            );
        }
        assert!(c.get("Admin").is_none(), "names are case-sensitive");
    }

    #[test]
    fn custom_scopes_extend_but_never_redefine() {
        let orders = ScopeDef::new(
            "orders:read",
            Tier::Service,
            25,
            Some(Audience::parse("orders")),
        )
        .unwrap();
        let c = ScopeCatalog::with_custom([orders.clone()]).unwrap();
        assert_eq!(c.get("orders:read"), Some(&orders));

        let redefine = ScopeDef::new("admin", Tier::Service, 1, None).unwrap();
        assert_eq!(
            ScopeCatalog::with_custom([redefine]),
            Err(CatalogError::RedefinesBuiltin("admin".into()))
        );
        assert_eq!(
            ScopeCatalog::with_custom([orders.clone(), orders]),
            Err(CatalogError::Duplicate("orders:read".into()))
        );
        for bad in ["", "has space", "quote\"", "back\\slash", "é"] {
            assert_eq!(
                ScopeDef::new(bad, Tier::Service, 1, None),
                Err(CatalogError::InvalidName(bad.into()))
            );
        }
    }

    #[test]
    fn request_parsing_table() {
        let c = ScopeCatalog::builtin();
        type Case = (&'static str, Result<Vec<&'static str>, ScopeProblem>);
        let cases: Vec<Case> = vec![
            ("", Ok(vec![])),
            ("   \t\n ", Ok(vec![])),
            ("   ", Ok(vec![])),
            ("service", Ok(vec!["service"])),
            ("service mcp", Ok(vec!["service", "mcp"])),
            // Runs of spaces and edge spaces are tolerated (see `parse_request`).
            ("service  mcp", Ok(vec!["service", "mcp"])),
            ("  service mcp ", Ok(vec!["service", "mcp"])),
            // Only SP separates (RFC 6749 §3.3); tab, LF and CR beside a token are refused by
            // name. (These once parsed as separators.)
            ("service\tmcp", Err(ScopeProblem::Separator('\t'))),
            ("service\nmcp", Err(ScopeProblem::Separator('\n'))),
            ("service\rmcp", Err(ScopeProblem::Separator('\r'))),
            ("service\r\nmcp", Err(ScopeProblem::Separator('\r'))),
            ("mcp service\t", Err(ScopeProblem::Separator('\t'))),
            ("\tservice", Err(ScopeProblem::Separator('\t'))),
            ("bogus\tmcp", Err(ScopeProblem::Separator('\t'))),
            (
                "mcp\tservice\nadmin\r\nuser",
                Err(ScopeProblem::Separator('\t')),
            ),
            // Other whitespace is no separator either: it is part of a malformed token.
            (
                "service\u{b}mcp",
                Err(ScopeProblem::Malformed("service\u{b}mcp".into())),
            ),
            ("service service", Ok(vec!["service"])),
            ("service bogus", Err(ScopeProblem::Unknown("bogus".into()))),
            ("Service", Err(ScopeProblem::Unknown("Service".into()))),
            (
                "service \"mcp\"",
                Err(ScopeProblem::Malformed("\"mcp\"".into())),
            ),
            ("a\\b", Err(ScopeProblem::Malformed("a\\b".into()))),
            (
                "service\u{a0}mcp",
                Err(ScopeProblem::Malformed("service\u{a0}mcp".into())),
            ),
            (
                "service\u{0}",
                Err(ScopeProblem::Malformed("service\u{0}".into())),
            ),
        ];
        for (input, want) in cases {
            let got = c.parse_request(input).map(|r| names(r.as_slice()));
            let want = want.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn lenient_parsing_drops_unknown() {
        let c = ScopeCatalog::builtin();
        let got = c.parse_lenient(&["admin", "nope", "mcp", "admin", " user ", "ADMIN"]);
        assert_eq!(names(&got), ["admin", "mcp", "user"]);
        assert!(c.parse_lenient::<&str>(&[]).is_empty());
    }

    #[test]
    fn stored_scopes_keep_what_the_catalog_does_not_know() {
        let c = ScopeCatalog::builtin();
        let got = StoredScopes::parse(
            &c,
            &["admin", "gone", "mcp", "admin", " user ", "", "ADMIN"],
        );
        assert_eq!(
            names(&got.known().collect::<Vec<_>>()),
            ["admin", "mcp", "user"]
        );
        assert_eq!(got.unknown(), ["gone", "ADMIN"]);
        assert!(got.contains("mcp") && !got.contains("gone"));
        assert_eq!(got.names(), ["admin", "mcp", "user", "gone", "ADMIN"]);
        // The same as the lenient parse of a request-time lookup, so nothing changes for them.
        assert_eq!(
            got.known().collect::<Vec<_>>(),
            c.parse_lenient(&["admin", "gone", "mcp", "admin", " user ", "", "ADMIN"])
        );
        assert_eq!(
            StoredScopes::parse::<&str>(&c, &[]),
            StoredScopes::default()
        );
    }

    #[test]
    fn scope_token_charset() {
        for b in 0u8..=127 {
            let s = (b as char).to_string();
            let expected = matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
            assert_eq!(is_scope_token(&s), expected, "byte {b:#x}");
        }
    }
}
