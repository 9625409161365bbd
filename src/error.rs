//! The one error type of the crate.

use std::fmt;

/// Everything that can go wrong in auditkit.
///
/// Messages are lowercase and say what was wrong and what to do about it. Match on the variant
/// (or use the `is_*` predicates) rather than on the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input did not pass validation; nothing was stored.
    #[error("invalid {field}: {problem}")]
    Invalid {
        /// The field or argument that was wrong, such as `action` or `actor.id`.
        field: String,
        /// What was wrong with it and what is allowed.
        problem: String,
    },
    /// The store's head moved since the batch was sealed (another writer appended first).
    ///
    /// [`crate::AuditTrail`] handles this by resealing and retrying; store implementations
    /// return it from [`crate::AuditStore::append`].
    #[error("append conflict: the store's head is at seq {actual}, the batch was sealed against seq {expected}; re-read the head and reseal")]
    Conflict {
        /// The head the batch was sealed against.
        expected: u64,
        /// The head the store actually has.
        actual: u64,
    },
    /// The database stayed locked by another writer past the busy timeout.
    #[error("database is busy: {0}; another process held the write lock past the busy timeout, retry later or raise the timeout")]
    Busy(String),
    /// A cursor, checkpoint or other text could not be parsed.
    #[error("malformed {what}: {problem}")]
    Malformed {
        /// What was being parsed (`cursor`, `checkpoint`, ...).
        what: &'static str,
        /// What was wrong.
        problem: String,
    },
    /// The database was written by a newer version of auditkit.
    #[error("the database has schema version {found}, this auditkit understands up to {supported}; upgrade auditkit to open it")]
    SchemaTooNew {
        /// The schema version found in the database.
        found: u32,
        /// The newest schema version this build understands.
        supported: u32,
    },
    /// The storage is not what auditkit expects (not a database, damaged, foreign schema).
    #[error("corrupt or foreign storage: {0}")]
    Corrupt(String),
    /// A checkpoint does not belong to this log or its signature does not verify.
    #[error("checkpoint rejected: {0}")]
    Checkpoint(String),
    /// A typed payload was asked of an event of another action or an unknown version.
    #[error("payload mismatch: {0}")]
    Payload(String),
    /// The store does not implement an optional operation.
    #[error("unsupported by this store: {0}")]
    Unsupported(String),
    /// The write may or may not have been committed (e.g. the connection died during commit).
    #[error("outcome unknown: {0}; read the events back by id, or retry with the same idempotency key, before recording them again")]
    OutcomeUnknown(String),
    /// The storage backend failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// Reading or writing a file or stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Error::Invalid {
            field: field.into(),
            problem: problem.to_string(),
        }
    }

    pub(crate) fn malformed(what: &'static str, problem: impl fmt::Display) -> Self {
        Error::Malformed {
            what,
            problem: problem.to_string(),
        }
    }

    /// True for [`Error::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// True for [`Error::Busy`].
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Busy(_))
    }

    /// True for [`Error::Invalid`].
    pub fn is_invalid(&self) -> bool {
        matches!(self, Error::Invalid { .. })
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
