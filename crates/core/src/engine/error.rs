//! The engine's one error type. Variants say whose fault it is, so the API
//! edge maps them by type (never by message text).

use crate::domain::Violations;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller sent invalid values; every invalid field is listed.
    #[error("invalid argument: {0}")]
    Invalid(Violations),
    /// The named thing does not exist.
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    /// The thing to create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// An update was based on a version that is no longer current.
    #[error("{0}")]
    Aborted(String),
    /// The request is valid but the state of the data does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request is too large to handle.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The write could not be made durable; nothing was changed.
    #[error("storage error, nothing was changed: {0}")]
    Storage(String),
    /// A fault of the server, not of the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn school_not_found(id: impl Into<String>) -> Error {
        Error::NotFound {
            kind: "school",
            id: id.into(),
        }
    }
}

impl Error {
    pub fn partnership_not_found(id: impl Into<String>) -> Error {
        Error::NotFound {
            kind: "partnership",
            id: id.into(),
        }
    }
}

impl From<super::persistence::StorageError> for Error {
    fn from(error: super::persistence::StorageError) -> Error {
        Error::Storage(error.0)
    }
}

impl From<Violations> for Error {
    fn from(violations: Violations) -> Error {
        Error::Invalid(violations)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
