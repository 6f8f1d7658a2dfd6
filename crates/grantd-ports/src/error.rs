//! A store failure as data: its kind, and within each kind a typed reason a caller can match
//! on and an operator can read (`Display`). No variant carries driver text or stored values.

use thiserror::Error;

/// A store failure, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StoreError {
    /// A unique constraint would be violated (e.g. duplicate email or client id).
    #[error("conflict: {0} is already taken")]
    Conflict(Constraint),
    /// A referenced row does not exist (e.g. a client's owner).
    #[error("not found: {0}")]
    NotFound(Missing),
    /// The input cannot be stored (too long, NUL byte, ...). A caller mistake.
    #[error("invalid input: {0}")]
    Invalid(InvalidInput),
    /// The store cannot be reached or is overloaded (pool timeout, connection refused, SQLite
    /// busy past its timeout, disk full). Worth retrying later: the API answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(Unavailable),
    /// Anything else.
    #[error("store failure: {0}")]
    Internal(Internal),
}

/// A uniqueness or reference constraint, named as `table.column` on both backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Constraint {
    #[error("users.id")]
    UserId,
    #[error("users.email")]
    UserEmail,
    #[error("clients.id")]
    ClientId,
    #[error("clients.owner_id")]
    ClientOwner,
    #[error("client_secrets.client_id")]
    SecretClient,
    #[error("sessions.id")]
    SessionId,
    #[error("sessions.jti")]
    SessionJti,
    /// A DPoP proof already bought a token (its replay key is taken).
    #[error("sessions.dpop_proof_jti")]
    SessionDpopProof,
    /// A client assertion already bought a token (its `jti` replay key is taken).
    #[error("sessions.client_assertion_jti")]
    SessionClientAssertion,
    /// The client already has a federated credential for that issuer and subject.
    #[error("federated_credentials.subject")]
    FederatedCredential,
    #[error("signing_keys.kid")]
    KeyKid,
    #[error("signing_keys.state")]
    KeyState,
    /// The database did not name it, or named one this list does not know.
    #[error("a constraint")]
    Unnamed,
}

/// What does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Missing {
    /// The row a query expected.
    #[error("no such row")]
    Row,
    /// The row a foreign key refers to.
    #[error("the row {0} refers to does not exist")]
    Referenced(Constraint),
    /// A referenced row, the constraint unnamed.
    #[error("a referenced row does not exist")]
    SomeReferenced,
    /// Key rotation found no key waiting to become active.
    #[error("no signing key in state next to activate")]
    NextSigningKey,
}

/// Input the store refuses before (or while) writing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum InvalidInput {
    /// A field's value; the message names the field, never the value.
    #[error("{field} {problem}")]
    Field {
        field: &'static str,
        problem: Problem,
    },
    /// A check or not-null constraint refused a value.
    #[error("value rejected by {0}")]
    Rejected(Constraint),
    /// The database refused a value as too big.
    #[error("value rejected by the database")]
    TooBig,
    /// The database URL or its TLS settings.
    #[error("{0}")]
    DatabaseUrl(UrlProblem),
}

/// What is wrong with a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("is longer than {0} bytes")]
    LongerThan(usize),
    #[error("contains a NUL byte")]
    NulByte,
    #[error("contains an empty value")]
    EmptyItem,
    #[error("contains a value with whitespace")]
    ItemWithWhitespace,
    #[error("is outside the years 0001-9999")]
    OutsideYears,
}

/// What is wrong with the database URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum UrlProblem {
    #[error("the database URL cannot be parsed")]
    Unparseable,
    #[error("the SQLite database path is empty")]
    EmptySqlitePath,
    #[error("unsupported database URL scheme (use postgres://, postgresql:// or sqlite://)")]
    UnsupportedScheme,
    #[error("in-memory SQLite is not supported: give a file path")]
    InMemorySqlite,
    #[error("the SQLite path must be a plain file path (no '?' options)")]
    SqliteOptions,
    #[error("sslmode must be disable, require, verify-ca or verify-full")]
    SslMode,
    #[error("sslrootcert needs sslmode=require (or verify-ca / verify-full)")]
    RootCertWithoutTls,
    #[error("cannot read the sslrootcert file")]
    RootCertUnreadable,
    #[error("the sslrootcert file is not valid PEM")]
    RootCertNotPem,
    #[error("the sslrootcert file holds an unusable certificate")]
    RootCertUnusable,
    #[error("the sslrootcert file holds no certificate")]
    RootCertEmpty,
    #[error("bad %-escape in the database URL")]
    BadEscape,
    #[error("the database URL is not valid UTF-8")]
    NotUtf8,
}

/// Why the store cannot serve now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Unavailable {
    /// A SQLite result code of the "cannot serve now" kind.
    #[error("SQLite: {0}")]
    Sqlite(SqliteCondition),
    #[error("lost the database connection or was refused")]
    ConnectionLost,
    /// A Postgres condition of the insufficient-resources, operator-intervention or
    /// system-error classes, or a deadlock.
    #[error("database busy, full or shutting down")]
    ServerBusy,
    #[error("database connection in a broken state")]
    BrokenConnection,
    #[error("cannot set up a database connection")]
    SetupFailed,
    #[error("cannot connect to the database: {0}")]
    Connect(ConnectFailure),
    #[error("cannot connect to the database")]
    CannotConnect,
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    #[error("the connection pool is closed")]
    PoolClosed,
    #[error("the session writer has stopped")]
    WriterStopped,
    #[error("writes to the database are failing")]
    WritesFailing,
    #[error("the store is shutting down")]
    ShuttingDown,
    /// The caller stopped waiting for the database (acquire + statement timeout + margin);
    /// the operation itself may still finish.
    #[error("the database did not answer within {millis} ms")]
    NoAnswer { millis: u128 },
    /// The caller stopped waiting for its session row's group commit.
    #[error("the session row was not committed within {millis} ms")]
    NotCommitted { millis: u128 },
}

/// SQLite primary result codes that mean "this database cannot serve now".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SqliteCondition {
    #[error("database is locked")]
    Locked,
    #[error("database is read-only")]
    ReadOnly,
    #[error("disk is full")]
    DiskFull,
    #[error("cannot open the database file")]
    CannotOpen,
    #[error("out of memory")]
    OutOfMemory,
    #[error("disk I/O error")]
    Io,
}

/// Why a Postgres connection could not be made, decided from the driver's typed error: the
/// SQLSTATE the server sent, the I/O error kind, a TLS error in the cause chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ConnectFailure {
    #[error("connection refused")]
    Refused,
    #[error("connection timed out")]
    TimedOut,
    #[error("network error")]
    Network,
    #[error("TLS negotiation failed (server without TLS, or an untrusted certificate)")]
    Tls,
    #[error("authentication failed")]
    Authentication,
    #[error("the database or role does not exist")]
    NoSuchDatabase,
    /// SQLSTATE class 53: too many connections, out of memory, disk full.
    #[error("the server is out of connections or resources")]
    Resources,
    /// SQLSTATE class 57: shutting down, starting up, in recovery.
    #[error("the server is not accepting connections now")]
    NotAccepting,
    #[error("the server refused the connection")]
    Refusal,
}

impl ConnectFailure {
    pub const ALL: [ConnectFailure; 9] = [
        ConnectFailure::Refused,
        ConnectFailure::TimedOut,
        ConnectFailure::Network,
        ConnectFailure::Tls,
        ConnectFailure::Authentication,
        ConnectFailure::NoSuchDatabase,
        ConnectFailure::Resources,
        ConnectFailure::NotAccepting,
        ConnectFailure::Refusal,
    ];
}

/// A failure that is a bug, a damaged database or a broken environment; the detail is logged
/// where it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Internal {
    /// A stored row that does not convert back into a domain value.
    #[error("corrupt stored value in {table}.{column}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
    },
    #[error("cannot decode a stored value")]
    Decode,
    #[error("cannot encode a value")]
    Encode,
    #[error("database error")]
    Database,
    #[error("the database answered SELECT 1 wrongly")]
    WrongAnswer,
    #[error("a migration failed (see the log)")]
    Migration,
    #[error("cannot build the connection pool")]
    PoolBuild,
    #[error("connection pool failure")]
    Pool,
    #[error("cannot open the SQLite checkpoint connection")]
    CheckpointOpen,
    #[error("cannot configure the SQLite checkpoint connection")]
    CheckpointConfigure,
    #[error("cannot start the SQLite checkpoint thread")]
    CheckpointThread,
    #[error("cannot configure TLS")]
    Tls,
    #[error("cannot start the store runtime")]
    Runtime,
    #[error("store start-up task failed")]
    StartupTask,
    #[error("a store task panicked")]
    TaskPanicked,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator's message keeps the kind, the reason and the named field or constraint.
    #[test]
    fn messages_name_kind_and_reason() {
        let cases = [
            (
                StoreError::Conflict(Constraint::UserEmail),
                "conflict: users.email is already taken",
            ),
            (
                StoreError::NotFound(Missing::Referenced(Constraint::ClientOwner)),
                "not found: the row clients.owner_id refers to does not exist",
            ),
            (
                StoreError::Invalid(InvalidInput::Field {
                    field: "user name",
                    problem: Problem::LongerThan(320),
                }),
                "invalid input: user name is longer than 320 bytes",
            ),
            (
                StoreError::Unavailable(Unavailable::Connect(ConnectFailure::Refused)),
                "store unavailable: cannot connect to the database: connection refused",
            ),
            (
                StoreError::Unavailable(Unavailable::Sqlite(SqliteCondition::Locked)),
                "store unavailable: SQLite: database is locked",
            ),
            (
                StoreError::Internal(Internal::Corrupt {
                    table: "clients",
                    column: "grant",
                }),
                "store failure: corrupt stored value in clients.grant",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
