//! The app layer's error: a domain refusal, or one of the two failure classes the API answers
//! with 503 (a dependency is unavailable) or 500 (anything else).

use std::fmt;

use grantd_domain::{DomainError, InvalidRequest};
use grantd_ports::{SignError, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppError {
    /// The request is refused; the caller can fix it.
    Refused(DomainError),
    /// A dependency (database, key store) is unavailable; retry later.
    Unavailable(String),
    /// An internal failure; the detail is for the log only.
    Internal(String),
}

impl AppError {
    pub(crate) fn from_store(context: &str, e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => AppError::Unavailable(format!("{context}: {m}")),
            StoreError::Invalid(m) => {
                AppError::Refused(DomainError::InvalidRequest(InvalidRequest::Body(m)))
            }
            other => AppError::Internal(format!("{context}: {other}")),
        }
    }

    pub(crate) fn from_sign(e: SignError) -> Self {
        match e {
            SignError::NoKey => AppError::Unavailable("no active signing key".to_owned()),
            SignError::Failed(m) => AppError::Internal(format!("signing failed: {m}")),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Refused(e)
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Refused(e) => write!(f, "refused: {e}"),
            AppError::Unavailable(m) => write!(f, "unavailable: {m}"),
            AppError::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for AppError {}
