//! Checks of operator input shared by the admin use cases: names, emails, ids and lists of
//! catalog scopes, each refused with a typed [`InvalidReason`].

use grantd_domain::{ClientId, IdError, ScopeCatalog, ScopeDef, UserId};

use super::{AdminError, EmailProblem, InvalidReason, NameProblem, Named, ScopeItem};

pub(super) const NAME_MAX_CHARS: usize = 200;
pub(super) const EMAIL_MAX_BYTES: usize = 320;
/// Longest piece of operator input quoted back in an error.
const ECHO_MAX_CHARS: usize = 80;

/// Parses each element strictly through the catalog; duplicates across elements collapse and
/// the first-given order is kept.
pub(super) fn parse_scope_list<'c>(
    catalog: &'c ScopeCatalog,
    item: ScopeItem,
    items: &[String],
) -> Result<Vec<&'c ScopeDef>, AdminError> {
    let mut out: Vec<&'c ScopeDef> = Vec::new();
    for given in items {
        let parsed = catalog
            .parse_request(given)
            .map_err(|problem| AdminError::Invalid(InvalidReason::Scope { item, problem }))?;
        for s in parsed.into_vec() {
            if !out.iter().any(|o| o.name() == s.name()) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

pub(super) fn validate_name(what: Named, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    let problem = if name.is_empty() {
        NameProblem::Blank
    } else if name.chars().count() > NAME_MAX_CHARS {
        NameProblem::TooLong
    } else if name.chars().any(char::is_control) {
        NameProblem::ControlCharacters
    } else {
        return Ok(name.to_owned());
    };
    Err(AdminError::Invalid(InvalidReason::Name { what, problem }))
}

/// A sanity check, not RFC 5322: exactly one `@` with something on both sides, no whitespace
/// or control characters, at most 320 bytes.
pub(super) fn validate_email(email: &str) -> Result<(), AdminError> {
    let problem = if email.len() > EMAIL_MAX_BYTES {
        EmailProblem::TooLong
    } else if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        EmailProblem::Whitespace
    } else {
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                return Ok(());
            }
            _ => EmailProblem::NotOneAt,
        }
    };
    Err(AdminError::Invalid(InvalidReason::Email {
        email: email.to_owned(),
        problem,
    }))
}

pub(super) fn parse_user_id(s: &str) -> Result<UserId, AdminError> {
    UserId::parse(s.trim()).map_err(|e| invalid_id(s, e))
}

pub(super) fn parse_client_id(s: &str) -> Result<ClientId, AdminError> {
    ClientId::parse(s.trim()).map_err(|e| invalid_id(s, e))
}

/// A malformed id, with the input as the operator typed it.
pub(super) fn invalid_id(input: &str, error: IdError) -> AdminError {
    AdminError::Invalid(InvalidReason::Id {
        input: input.to_owned(),
        error,
    })
}

/// Operator input quoted for an error message: bounded, escaped (so one line).
pub(super) fn quote(s: &str) -> String {
    if s.chars().count() <= ECHO_MAX_CHARS {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(ECHO_MAX_CHARS).collect();
        format!("{cut:?}…")
    }
}
