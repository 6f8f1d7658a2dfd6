//! Error mapping: every diesel, pool and connection failure becomes one of the port's
//! [`StoreError`] kinds with a short fixed message, and input a backend cannot store is
//! rejected before any query runs.
//!
//! Driver text never reaches a caller: it can carry data (Postgres' `detail` quotes the
//! conflicting key, parse errors quote the input). It goes to the log, at most, and only the
//! message line, never `detail`.

use chrono::{DateTime, Datelike, NaiveDateTime};
use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use grantd_domain::Timestamp;
use grantd_ports::StoreError;

/// The crate's internal error: an already classified [`StoreError`]. It exists because the
/// orphan rule forbids `From<diesel::result::Error> for StoreError` here, and `?` needs a
/// `From` impl to convert diesel's errors inside queries.
#[derive(Debug)]
pub(crate) struct Error(pub(crate) StoreError);

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        e.0
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error(e)
    }
}

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Self {
        Error(classify(e))
    }
}

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Self {
        Error(classify_connection(&e))
    }
}

pub(crate) fn internal(msg: &str) -> Error {
    Error(StoreError::Internal(msg.to_owned()))
}

/// A stored row that does not convert back into a domain value (hand-edited or corrupt data).
pub(crate) fn corrupt(table: &str, column: &str) -> Error {
    tracing::error!(
        table,
        column,
        "stored row does not convert to a domain value"
    );
    Error(StoreError::Internal(format!(
        "corrupt stored value in {table}.{column}"
    )))
}

/// Whether a failure belongs to one row (so retrying the other rows of a batch alone makes
/// sense) rather than to the database as a whole.
pub(crate) fn is_row_specific(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict(_) | StoreError::NotFound(_) | StoreError::Invalid(_)
    )
}

/// Postgres constraint names (see migrations/postgres) → the `table.column` SQLite names in its
/// own messages, so both backends report the same thing.
fn logical_constraint(name: &str) -> &str {
    match name {
        "users_pkey" => "users.id",
        "users_email_key" => "users.email",
        "clients_pkey" => "clients.id",
        "clients_owner_id_fkey" => "clients.owner_id",
        "client_secrets_client_id_fkey" => "client_secrets.client_id",
        "sessions_pkey" => "sessions.id",
        "sessions_jti_key" => "sessions.jti",
        "signing_keys_pkey" => "signing_keys.kid",
        "signing_keys_one_active" | "signing_keys_one_next" => "signing_keys.state",
        other => other,
    }
}

/// SQLite names the columns in the message: "UNIQUE constraint failed: users.email". Column
/// names are schema, not data, so they are safe to pass on.
fn sqlite_constraint(message: &str) -> Option<String> {
    let rest = message.split_once("constraint failed: ")?.1;
    let safe = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ',' | ' ' | '\''));
    safe.then(|| rest.to_owned())
}

fn unavailable_text(message: &str) -> bool {
    const MARKERS: [&str; 12] = [
        // SQLite
        "database is locked",
        "database table is locked",
        "database or disk is full",
        "disk I/O error",
        "unable to open database",
        // Postgres
        "No space left on device",
        "could not extend file",
        "terminating connection",
        "the database system is",
        "too many clients",
        "canceling statement due to",
        "deadlock detected",
    ];
    MARKERS.iter().any(|m| message.contains(m))
}

fn invalid_text(message: &str) -> bool {
    const MARKERS: [&str; 4] = [
        "invalid byte sequence",
        "out of range",
        "value too long",
        "string or blob too big",
    ];
    MARKERS.iter().any(|m| message.contains(m))
}

/// Maps a diesel error to a port error kind.
pub(crate) fn classify(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(kind, info) => {
            let constraint = info
                .constraint_name()
                .map(|n| logical_constraint(n).to_owned())
                .or_else(|| sqlite_constraint(info.message()));
            let name = constraint.as_deref().unwrap_or("a constraint");
            match kind {
                DatabaseErrorKind::UniqueViolation => {
                    tracing::debug!(constraint = name, "unique violation");
                    StoreError::Conflict(format!("{name} is already taken"))
                }
                DatabaseErrorKind::ForeignKeyViolation => {
                    tracing::debug!(constraint = name, "foreign key violation");
                    StoreError::NotFound(match constraint {
                        Some(c) => format!("the row {c} refers to does not exist"),
                        None => "a referenced row does not exist".to_owned(),
                    })
                }
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    tracing::warn!(constraint = name, "constraint violation");
                    StoreError::Invalid(format!("value rejected by {name}"))
                }
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ReadOnlyTransaction => {
                    tracing::warn!(kind = ?kind, message = info.message(), "database unavailable");
                    StoreError::Unavailable("lost the database connection or was refused".into())
                }
                _ => {
                    let message = info.message();
                    if unavailable_text(message) {
                        tracing::warn!(message, "database unavailable");
                        StoreError::Unavailable("database busy, full or shutting down".to_owned())
                    } else if invalid_text(message) {
                        tracing::warn!(message, "value rejected by the database");
                        StoreError::Invalid("value rejected by the database".to_owned())
                    } else {
                        tracing::error!(message, "database error");
                        StoreError::Internal("database error".to_owned())
                    }
                }
            }
        }
        DieselError::NotFound => StoreError::NotFound("no such row".to_owned()),
        DieselError::DeserializationError(e) => {
            tracing::error!(error = %e, "cannot decode a stored value");
            StoreError::Internal("cannot decode a stored value".to_owned())
        }
        DieselError::SerializationError(e) => {
            tracing::error!(error = %e, "cannot encode a value");
            StoreError::Internal("cannot encode a value".to_owned())
        }
        DieselError::BrokenTransactionManager => {
            StoreError::Unavailable("database connection in a broken state".to_owned())
        }
        other => {
            tracing::error!(error = %other, "database error");
            StoreError::Internal("database error".to_owned())
        }
    }
}

/// Maps a failure to connect. The categories are what an operator needs to act; the driver's
/// own text goes to the log.
pub(crate) fn classify_connection(e: &ConnectionError) -> StoreError {
    let text = e.to_string();
    tracing::warn!(error = %text, "cannot connect to the database");
    if let ConnectionError::InvalidConnectionUrl(_) | ConnectionError::InvalidCString(_) = e {
        return StoreError::Invalid("the database URL cannot be parsed".to_owned());
    }
    let lower = text.to_ascii_lowercase();
    let what = if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") {
        "TLS negotiation failed (server without TLS, or an untrusted certificate)"
    } else if lower.contains("password") || lower.contains("authentication") {
        "authentication failed"
    } else if lower.contains("refused") {
        "connection refused"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "connection timed out"
    } else if lower.contains("does not exist") {
        "the database or role does not exist"
    } else if lower.contains("unable to open database") || lower.contains("cannot open") {
        "cannot open the SQLite database file"
    } else {
        "cannot connect"
    };
    StoreError::Unavailable(format!("cannot connect to the database: {what}"))
}

// ---------------------------------------------------------------------------------------------
// Input validation, before any query.

/// Longest user or client name, and email (RFC 5321's practical maximum is 254; 320 leaves room).
pub(crate) const MAX_NAME: usize = 320;
pub(crate) const MAX_EMAIL: usize = 320;
/// A space-joined list (roles, scopes, grant types).
pub(crate) const MAX_LIST: usize = 8192;
/// A secret hash (argon2id PHC strings are ~100 bytes; keyed hashes less).
pub(crate) const MAX_HASH: usize = 1024;
/// Each request-context field; the domain already cuts them to this.
pub(crate) const MAX_CONTEXT: usize = grantd_domain::RequestContext::MAX_FIELD;
pub(crate) const MAX_REASON: usize = 512;
/// A client's owner id as given (a UUID when valid).
pub(crate) const MAX_OWNER_ID: usize = 128;
/// Public JWK text and the encrypted private key (an RSA-4096 key fits several times over).
pub(crate) const MAX_JWK: usize = 16 * 1024;
pub(crate) const MAX_PRIVATE_KEY: usize = 16 * 1024;

fn invalid(msg: String) -> Error {
    Error(StoreError::Invalid(msg))
}

/// Rejects NUL bytes (Postgres text cannot hold them; rejected on SQLite too so both backends
/// behave alike) and values longer than `max` bytes. The message names the field, never the
/// value.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(invalid(format!("{field} is longer than {max} bytes")));
    }
    if value.contains('\0') {
        return Err(invalid(format!("{field} contains a NUL byte")));
    }
    Ok(())
}

pub(crate) fn check_opt_text(field: &str, value: Option<&str>, max: usize) -> Result<(), Error> {
    value.map_or(Ok(()), |v| check_text(field, v, max))
}

/// Joins a list for its space-separated column. Items must be non-empty and free of
/// whitespace, or they would not split back into the same list.
pub(crate) fn join_list(field: &str, items: &[String]) -> Result<String, Error> {
    for item in items {
        if item.is_empty() {
            return Err(invalid(format!("{field} contains an empty value")));
        }
        if item.chars().any(char::is_whitespace) {
            return Err(invalid(format!("{field} contains a value with whitespace")));
        }
    }
    let joined = items.join(" ");
    check_text(field, &joined, MAX_LIST)?;
    Ok(joined)
}

pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A domain timestamp as the UTC `NaiveDateTime` both backends store. Years outside
/// 0001–9999 are refused: Postgres cannot hold some of them, and SQLite's text timestamps only
/// sort chronologically with four-digit years.
pub(crate) fn to_db_time(field: &str, t: Timestamp) -> Result<NaiveDateTime, Error> {
    DateTime::from_timestamp_micros(t.as_micros())
        .map(|dt| dt.naive_utc())
        .filter(|dt| (1..=9999).contains(&dt.year()))
        .ok_or_else(|| invalid(format!("{field} is outside the years 0001-9999")))
}

pub(crate) fn to_opt_db_time(
    field: &str,
    t: Option<Timestamp>,
) -> Result<Option<NaiveDateTime>, Error> {
    t.map(|t| to_db_time(field, t)).transpose()
}

pub(crate) fn from_db_time(t: NaiveDateTime) -> Timestamp {
    Timestamp::from_micros(t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks_name_the_field_not_the_value() {
        let e = check_text("user name", "bob\0secret", 320)
            .err()
            .map(|e| e.0);
        let Some(StoreError::Invalid(m)) = e else {
            panic!("expected Invalid, got {e:?}");
        };
        assert!(m.contains("user name") && !m.contains("secret"), "{m}");
        assert!(check_text("x", &"a".repeat(11), 10).is_err());
        assert!(check_text("x", &"a".repeat(10), 10).is_ok());
    }

    #[test]
    fn lists_round_trip_and_reject_unsplittable_items() {
        let items = vec!["a".to_owned(), "b:c".to_owned()];
        let joined = join_list("scopes", &items).ok();
        assert_eq!(joined.as_deref(), Some("a b:c"));
        assert_eq!(split_list("a b:c"), items);
        assert_eq!(split_list(""), Vec::<String>::new());
        assert!(join_list("scopes", &["a b".to_owned()]).is_err());
        assert!(join_list("scopes", &["".to_owned()]).is_err());
        assert!(join_list("scopes", &["a\tb".to_owned()]).is_err());
    }

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        for micros in [0, 1, 1_767_225_600_123_456, -1, 253_402_300_799_999_999] {
            let t = Timestamp::from_micros(micros);
            let back = to_db_time("t", t).map(from_db_time).ok();
            assert_eq!(back, Some(t), "{micros}");
        }
        assert!(to_db_time("t", Timestamp::from_micros(i64::MAX)).is_err());
        assert!(to_db_time("t", Timestamp::from_micros(253_402_300_800_000_000)).is_err());
    }

    #[test]
    fn sqlite_constraint_names_are_extracted_only_when_plain() {
        assert_eq!(
            sqlite_constraint("UNIQUE constraint failed: users.email").as_deref(),
            Some("users.email")
        );
        assert_eq!(sqlite_constraint("FOREIGN KEY constraint failed"), None);
        assert_eq!(
            sqlite_constraint("CHECK constraint failed: x = \"y\""),
            None
        );
    }

    #[test]
    fn postgres_constraints_map_to_sqlite_style_names() {
        assert_eq!(logical_constraint("users_email_key"), "users.email");
        assert_eq!(logical_constraint("sessions_jti_key"), "sessions.jti");
        assert_eq!(logical_constraint("something_else"), "something_else");
    }
}
