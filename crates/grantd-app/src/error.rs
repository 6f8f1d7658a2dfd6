//! The app layer's error: a domain refusal, or one of the two failure classes the API answers
//! with 503 (a dependency is unavailable) or 500 (anything else), each saying what failed.

use std::fmt;

use std::time::Duration;

use grantd_domain::{DomainError, InvalidRequest, QuotaWindow};
use grantd_ports::{SignError, StoreError};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The request is refused; the caller can fix it.
    #[error("refused: {0}")]
    Refused(DomainError),
    /// A dependency (database, key store) is unavailable; retry later.
    #[error("unavailable: {0}")]
    Unavailable(Failure),
    /// An internal failure; the detail is for the log only.
    #[error("internal: {0}")]
    Internal(Failure),
    /// The client's token quota for `window` is used up; a slot frees after `retry_after`.
    #[error("token quota per {} exhausted", window.as_str())]
    QuotaExhausted {
        window: QuotaWindow,
        retry_after: Duration,
    },
}

/// What failed behind an [`AppError::Unavailable`] or [`AppError::Internal`], for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A store operation failed while the use case was doing `doing` ("loading client").
    Store {
        doing: &'static str,
        cause: StoreError,
    },
    /// The signer failed or has no active key.
    Sign(SignError),
    /// The bounded queue of slow client-secret checks is full.
    SecretChecksQueued,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The variant already says "unavailable"; the store's reason alone follows.
            Failure::Store {
                doing,
                cause: StoreError::Unavailable(why),
            } => write!(f, "{doing}: {why}"),
            Failure::Store { doing, cause } => write!(f, "{doing}: {cause}"),
            Failure::Sign(e) => e.fmt(f),
            Failure::SecretChecksQueued => f.write_str("too many slow client-secret checks queued"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Store { cause, .. } => Some(cause),
            Failure::Sign(e) => Some(e),
            Failure::SecretChecksQueued => None,
        }
    }
}

impl AppError {
    pub(crate) fn from_store(doing: &'static str, e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => AppError::Unavailable(Failure::Store { doing, cause: e }),
            // Input the store cannot hold (a request-context field it refuses): the client's
            // to fix. The message names the field and the problem, never the value.
            StoreError::Invalid(why) => AppError::Refused(DomainError::InvalidRequest(
                InvalidRequest::Body(why.to_string()),
            )),
            cause => AppError::Internal(Failure::Store { doing, cause }),
        }
    }

    pub(crate) fn from_sign(e: SignError) -> Self {
        match e {
            SignError::NoKey => AppError::Unavailable(Failure::Sign(e)),
            SignError::Failed(_) => AppError::Internal(Failure::Sign(e)),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Refused(e)
    }
}
