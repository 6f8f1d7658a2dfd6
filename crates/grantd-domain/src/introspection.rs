//! Who may introspect a token (RFC 7662 §4): the client it was issued to, or a client whose
//! provisioned grant holds the `introspect` scope.

use crate::client::Client;
use crate::scope::{INTROSPECT, ScopeCatalog};

/// Whether `caller` may learn about a token issued to `token_client_id`. Anyone else gets the
/// answer an invalid token gets (`active: false`), so the rule itself leaks nothing.
pub fn may_introspect(catalog: &ScopeCatalog, caller: &Client, token_client_id: &str) -> bool {
    caller.id.as_str() == token_client_id
        || catalog
            .parse_lenient(&caller.scopes)
            .iter()
            .any(|s| s.name() == INTROSPECT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::AuthMethod;
    use crate::ids::ClientId;
    use crate::time::Timestamp;

    fn client(id: &str, scopes: &[&str]) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            name: id.into(),
            owner_id: "owner".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            grant_types: vec![],
            auth_method: AuthMethod::ClientSecretBasic,
            active: true,
            secrets: vec![],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        }
    }

    #[test]
    fn own_tokens_always_others_only_with_introspect() {
        let c = ScopeCatalog::builtin();
        let table: &[(&[&str], &str, bool)] = &[
            (&[], "rs", true),
            (&["service"], "rs", true),
            (&[], "svc-a", false),
            (&["service", "mcp", "admin"], "svc-a", false),
            (&["introspect"], "svc-a", true),
            (&["mcp", "introspect"], "svc-a", true),
            (&["Introspect"], "svc-a", false),
        ];
        for (scopes, token_client, want) in table {
            assert_eq!(
                may_introspect(&c, &client("rs", scopes), token_client),
                *want,
                "{scopes:?} → {token_client}"
            );
        }
    }
}
