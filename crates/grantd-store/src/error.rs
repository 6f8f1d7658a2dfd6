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
use grantd_ports::{
    Constraint, Internal, InvalidInput, Missing, Problem, SqliteCondition, StoreError, Unavailable,
};

pub(crate) use grantd_ports::ConnectFailure as PgConnectFailure;

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
        Error(classify_connection(e))
    }
}

pub(crate) fn internal(what: Internal) -> Error {
    Error(StoreError::Internal(what))
}

/// A stored row that does not convert back into a domain value (hand-edited or corrupt data).
pub(crate) fn corrupt(table: &'static str, column: &'static str) -> Error {
    tracing::error!(
        table,
        column,
        "stored row does not convert to a domain value"
    );
    Error(StoreError::Internal(Internal::Corrupt { table, column }))
}

/// Whether a failure belongs to one row (so retrying the other rows of a batch alone makes
/// sense) rather than to the database as a whole.
pub(crate) fn is_row_specific(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict(_) | StoreError::NotFound(_) | StoreError::Invalid(_)
    )
}

/// Postgres constraint names (see migrations/postgres) and the `table.column` names SQLite
/// puts in its messages → one [`Constraint`], so both backends report the same thing.
fn logical_constraint(name: &str) -> Constraint {
    match name {
        "users_pkey" | "users.id" => Constraint::UserId,
        "users_email_key" | "users.email" => Constraint::UserEmail,
        "clients_pkey" | "clients.id" => Constraint::ClientId,
        "clients_owner_id_fkey" | "clients.owner_id" => Constraint::ClientOwner,
        "client_secrets_client_id_fkey" | "client_secrets.client_id" => Constraint::SecretClient,
        "sessions_pkey" | "sessions.id" => Constraint::SessionId,
        "sessions_jti_key" | "sessions.jti" => Constraint::SessionJti,
        "sessions_dpop_proof_key" | "sessions.dpop_proof_jti" => Constraint::SessionDpopProof,
        "sessions_client_assertion_key" | "sessions.client_assertion_jti" => {
            Constraint::SessionClientAssertion
        }
        "federated_credentials_pkey"
        | "federated_credentials.client_id, federated_credentials.issuer, federated_credentials.subject" => {
            Constraint::FederatedCredential
        }
        "signing_keys_pkey" | "signing_keys.kid" => Constraint::KeyKid,
        "signing_keys_one_active"
        | "signing_keys_one_next"
        | "signing_keys.state"
        | "index 'signing_keys_one_active'"
        | "index 'signing_keys_one_next'" => Constraint::KeyState,
        _ => Constraint::Unnamed,
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

/// SQLite primary result codes that mean "this database cannot serve now" rather than "this
/// request is wrong": a lock held elsewhere, a read-only or full disk, an I/O error, a file that
/// cannot be opened.
const SQLITE_UNAVAILABLE: [std::ffi::c_int; 9] = [
    libsqlite3_sys::SQLITE_BUSY,
    libsqlite3_sys::SQLITE_LOCKED,
    libsqlite3_sys::SQLITE_NOMEM,
    libsqlite3_sys::SQLITE_READONLY,
    libsqlite3_sys::SQLITE_IOERR,
    libsqlite3_sys::SQLITE_FULL,
    libsqlite3_sys::SQLITE_CANTOPEN,
    libsqlite3_sys::SQLITE_PROTOCOL,
    libsqlite3_sys::SQLITE_NOLFS,
];

/// The SQLite primary result code behind an error, among [`SQLITE_UNAVAILABLE`].
///
/// diesel 2.3 reads `sqlite3_extended_errcode` only to pick a constraint kind; every other
/// failure reaches us as `DatabaseErrorKind::Unknown` (or, when opening, `BadConnection`)
/// carrying `sqlite3_errmsg`, and the code itself is dropped. For these result codes SQLite
/// sets no message of its own, so `sqlite3_errmsg` is exactly `sqlite3_errstr(code)`, the
/// text SQLite keeps for each primary code (every `SQLITE_IOERR_*` variant reads as
/// `SQLITE_IOERR`'s). `libsqlite3_sys::code_to_str` returns that same text from the linked
/// library, so comparing for equality recovers the primary code: no hand-written text, no
/// substring.
fn sqlite_code(message: &str) -> Option<std::ffi::c_int> {
    SQLITE_UNAVAILABLE
        .into_iter()
        .find(|&code| libsqlite3_sys::code_to_str(code) == message)
}

/// The condition an unavailable SQLite database is in.
fn sqlite_unavailable(code: std::ffi::c_int) -> StoreError {
    let what = match code {
        libsqlite3_sys::SQLITE_BUSY | libsqlite3_sys::SQLITE_LOCKED => SqliteCondition::Locked,
        libsqlite3_sys::SQLITE_READONLY => SqliteCondition::ReadOnly,
        libsqlite3_sys::SQLITE_FULL => SqliteCondition::DiskFull,
        libsqlite3_sys::SQLITE_CANTOPEN => SqliteCondition::CannotOpen,
        libsqlite3_sys::SQLITE_NOMEM => SqliteCondition::OutOfMemory,
        _ => SqliteCondition::Io,
    };
    StoreError::Unavailable(Unavailable::Sqlite(what))
}

/// Postgres errors with a SQLSTATE outside the eight kinds diesel-async maps.
///
/// diesel-async turns a SQLSTATE into a `DatabaseErrorKind` for unique, foreign-key, restrict,
/// exclusion, not-null and check violations, serialization failures and read-only
/// transactions; any other code becomes `Unknown`, and the `DbError` holding it is wrapped in a
/// private type behind `DatabaseErrorInformation`, which has no accessor for the code (diesel
/// PR #5232 adds one). A connection that is gone is structural (`ClosedConnection`,
/// `UnableToSendCommand`) and failures to connect are classified from the SQLSTATE and I/O
/// error kind in `tls.rs`; what remains for an established connection is the primary message,
/// matched in full against the server's fixed (English, `lc_messages` of the server) texts of
/// the SQLSTATE classes 53 (insufficient resources), 57 (operator intervention, including
/// `statement_timeout`), 58 (system error) and 40P01 (deadlock). Prefix, not substring: the
/// texts that carry an argument end in it.
fn postgres_unavailable(message: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        // 53100 disk_full, 53200 out_of_memory, 53300 too_many_connections
        "could not extend file",
        "could not write to file",
        "out of memory",
        "sorry, too many clients already",
        // 57014 query_canceled (statement_timeout, cancel), 57P01-03 shutdown / start-up
        "canceling statement due to",
        "terminating connection due to",
        "the database system is",
        // 58030 io_error
        "could not read block",
        "could not write block",
        "could not fsync file",
        // 40P01 deadlock_detected, 55P03 lock_not_available
        "deadlock detected",
        "could not obtain lock",
    ];
    PREFIXES.iter().any(|p| message.starts_with(p))
}

/// Maps a diesel error to a port error kind.
pub(crate) fn classify(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(kind, info) => {
            let named = info
                .constraint_name()
                .map(str::to_owned)
                .or_else(|| sqlite_constraint(info.message()));
            let name = named.as_deref().unwrap_or("a constraint");
            let constraint = named
                .as_deref()
                .map_or(Constraint::Unnamed, logical_constraint);
            match kind {
                DatabaseErrorKind::UniqueViolation => {
                    tracing::debug!(constraint = name, "unique violation");
                    StoreError::Conflict(constraint)
                }
                DatabaseErrorKind::ForeignKeyViolation => {
                    tracing::debug!(constraint = name, "foreign key violation");
                    StoreError::NotFound(match constraint {
                        Constraint::Unnamed => Missing::SomeReferenced,
                        c => Missing::Referenced(c),
                    })
                }
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    tracing::warn!(constraint = name, "constraint violation");
                    StoreError::Invalid(InvalidInput::Rejected(constraint))
                }
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ReadOnlyTransaction => {
                    tracing::warn!(kind = ?kind, message = info.message(), "database unavailable");
                    StoreError::Unavailable(Unavailable::ConnectionLost)
                }
                _ => classify_other(info.message()),
            }
        }
        DieselError::NotFound => StoreError::NotFound(Missing::Row),
        DieselError::DeserializationError(e) => {
            tracing::error!(error = %e, "cannot decode a stored value");
            StoreError::Internal(Internal::Decode)
        }
        DieselError::SerializationError(e) => {
            tracing::error!(error = %e, "cannot encode a value");
            StoreError::Internal(Internal::Encode)
        }
        DieselError::BrokenTransactionManager => {
            StoreError::Unavailable(Unavailable::BrokenConnection)
        }
        other => {
            tracing::error!(error = %other, "database error");
            StoreError::Internal(Internal::Database)
        }
    }
}

/// A database error of no kind diesel names: a SQLite result code, a Postgres condition of
/// the unavailable classes, or else an internal error (our queries are fixed and their input
/// checked first, so anything else is a bug or a damaged database).
fn classify_other(message: &str) -> StoreError {
    if let Some(code) = sqlite_code(message) {
        tracing::warn!(message, "SQLite database unavailable");
        sqlite_unavailable(code)
    } else if message == libsqlite3_sys::code_to_str(libsqlite3_sys::SQLITE_TOOBIG) {
        tracing::warn!(message, "value rejected by the database");
        StoreError::Invalid(InvalidInput::TooBig)
    } else if postgres_unavailable(message) {
        tracing::warn!(message, "database unavailable");
        StoreError::Unavailable(Unavailable::ServerBusy)
    } else {
        tracing::error!(message, "database error");
        StoreError::Internal(Internal::Database)
    }
}

/// Maps a failure to connect (or to set up a new connection). Postgres failures arrive already
/// classified by `tls::connect_error` as one of [`PgConnectFailure`]'s fixed phrases; SQLite
/// reports its primary result code's text (see [`sqlite_code`]).
pub(crate) fn classify_connection(e: ConnectionError) -> StoreError {
    match e {
        ConnectionError::InvalidConnectionUrl(_) | ConnectionError::InvalidCString(_) => {
            StoreError::Invalid(InvalidInput::DatabaseUrl(
                grantd_ports::UrlProblem::Unparseable,
            ))
        }
        ConnectionError::CouldntSetupConfiguration(inner) => match classify(inner) {
            StoreError::Internal(_) => StoreError::Unavailable(Unavailable::SetupFailed),
            other => other,
        },
        ConnectionError::BadConnection(text) => {
            if let Some(failure) = connect_failure_from_phrase(&text) {
                return StoreError::Unavailable(Unavailable::Connect(failure));
            }
            tracing::warn!(error = %text, "cannot connect to the database");
            match sqlite_code(&text) {
                Some(code) => sqlite_unavailable(code),
                None => StoreError::Unavailable(Unavailable::CannotConnect),
            }
        }
        other => {
            tracing::warn!(error = %other, "cannot connect to the database");
            StoreError::Unavailable(Unavailable::CannotConnect)
        }
    }
}

/// A Postgres connection failure crosses diesel's `ConnectionError::BadConnection(String)` as
/// its fixed phrase (`tls.rs` decides it from the driver's typed error while it is at hand);
/// `classify_connection` maps the phrase back by equality.
fn connect_failure_from_phrase(text: &str) -> Option<PgConnectFailure> {
    PgConnectFailure::ALL
        .into_iter()
        .find(|f| f.to_string() == text)
}

/// From a SQLSTATE the server sent while the connection was being set up.
pub(crate) fn connect_failure_from_sqlstate(code: &str) -> PgConnectFailure {
    match code.get(..2) {
        Some("28") => PgConnectFailure::Authentication,
        Some("3D") => PgConnectFailure::NoSuchDatabase,
        Some("53") => PgConnectFailure::Resources,
        Some("57") => PgConnectFailure::NotAccepting,
        Some("08") => PgConnectFailure::Network,
        _ => PgConnectFailure::Refusal,
    }
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

pub(crate) fn invalid(field: &'static str, problem: Problem) -> Error {
    Error(StoreError::Invalid(InvalidInput::Field { field, problem }))
}

/// Rejects NUL bytes (Postgres text cannot hold them; rejected on SQLite too so both backends
/// behave alike) and values longer than `max` bytes. The message names the field, never the
/// value.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(invalid(field, Problem::LongerThan(max)));
    }
    if value.contains('\0') {
        return Err(invalid(field, Problem::NulByte));
    }
    Ok(())
}

pub(crate) fn check_opt_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), Error> {
    value.map_or(Ok(()), |v| check_text(field, v, max))
}

/// Joins a list for its space-separated column. Items must be non-empty and free of
/// whitespace, or they would not split back into the same list.
pub(crate) fn join_list(field: &'static str, items: &[String]) -> Result<String, Error> {
    for item in items {
        if item.is_empty() {
            return Err(invalid(field, Problem::EmptyItem));
        }
        if item.chars().any(char::is_whitespace) {
            return Err(invalid(field, Problem::ItemWithWhitespace));
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
pub(crate) fn to_db_time(field: &'static str, t: Timestamp) -> Result<NaiveDateTime, Error> {
    DateTime::from_timestamp_micros(t.as_micros())
        .map(|dt| dt.naive_utc())
        .filter(|dt| (1..=9999).contains(&dt.year()))
        .ok_or_else(|| invalid(field, Problem::OutsideYears))
}

pub(crate) fn to_opt_db_time(
    field: &'static str,
    t: Option<Timestamp>,
) -> Result<Option<NaiveDateTime>, Error> {
    t.map(|t| to_db_time(field, t)).transpose()
}

pub(crate) fn from_db_time(t: NaiveDateTime) -> Timestamp {
    Timestamp::from_micros(t.and_utc().timestamp_micros())
}

/// Counts a failed store operation by its kind (`grantd_store_errors_total{kind}`), through
/// the `metrics` facade: a no-op unless the binary installed a recorder.
pub(crate) fn count(e: &StoreError) {
    metrics::counter!("grantd_store_errors_total", "kind" => kind(e)).increment(1);
}

/// The closed label set of [`count`]: one per [`StoreError`] kind.
pub(crate) fn kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict(_) => "conflict",
        StoreError::NotFound(_) => "not_found",
        StoreError::Invalid(_) => "invalid",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks_name_the_field_not_the_value() {
        let e = check_text("user name", "bob\0secret", 320)
            .err()
            .map(|e| e.0);
        let Some(e @ StoreError::Invalid(_)) = e else {
            panic!("expected Invalid, got {e:?}");
        };
        let m = e.to_string();
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

    /// SQLite's text for each unavailable primary code maps back to that code; other codes'
    /// texts (a constraint, a syntax error) do not.
    #[test]
    fn sqlite_result_codes_are_recovered_from_their_text() {
        for code in SQLITE_UNAVAILABLE {
            assert_eq!(sqlite_code(libsqlite3_sys::code_to_str(code)), Some(code));
            assert!(matches!(
                classify_other(libsqlite3_sys::code_to_str(code)),
                StoreError::Unavailable(_)
            ));
        }
        assert_eq!(
            sqlite_code(libsqlite3_sys::code_to_str(
                libsqlite3_sys::SQLITE_IOERR_WRITE
            )),
            Some(libsqlite3_sys::SQLITE_IOERR)
        );
        for other in [
            libsqlite3_sys::SQLITE_CONSTRAINT,
            libsqlite3_sys::SQLITE_ERROR,
        ] {
            assert_eq!(sqlite_code(libsqlite3_sys::code_to_str(other)), None);
        }
        assert!(matches!(
            classify_other("near \"x\": syntax error"),
            StoreError::Internal(_)
        ));
    }

    #[test]
    fn postgres_connect_sqlstates_are_classified_by_class() {
        let table = [
            ("28P01", PgConnectFailure::Authentication),
            ("3D000", PgConnectFailure::NoSuchDatabase),
            ("53300", PgConnectFailure::Resources),
            ("57P03", PgConnectFailure::NotAccepting),
            ("08006", PgConnectFailure::Network),
            ("XX000", PgConnectFailure::Refusal),
        ];
        for (code, want) in table {
            assert_eq!(connect_failure_from_sqlstate(code), want, "{code}");
        }
        for failure in PgConnectFailure::ALL {
            let e = classify_connection(ConnectionError::BadConnection(failure.to_string()));
            assert_eq!(e, StoreError::Unavailable(Unavailable::Connect(failure)));
        }
    }

    #[test]
    fn postgres_conditions_of_the_unavailable_classes_are_unavailable() {
        for message in [
            "canceling statement due to statement timeout",
            "terminating connection due to administrator command",
            "the database system is shutting down",
            "could not extend file \"base/1/2\": No space left on device",
            "deadlock detected",
        ] {
            assert!(
                matches!(classify_other(message), StoreError::Unavailable(_)),
                "{message}"
            );
        }
    }

    #[test]
    fn postgres_constraints_map_to_sqlite_style_names() {
        assert_eq!(logical_constraint("users_email_key"), Constraint::UserEmail);
        assert_eq!(logical_constraint("users.email"), Constraint::UserEmail);
        assert_eq!(
            logical_constraint("sessions_jti_key"),
            Constraint::SessionJti
        );
        assert_eq!(logical_constraint("something_else"), Constraint::Unnamed);
    }
}
