//! The one error type of the crate.

use std::fmt;
use std::sync::Arc;

/// Everything that can go wrong in auditkit.
///
/// Messages are lowercase and say what was wrong and what to do about it. Match on the variant
/// (or use the `is_*` predicates) rather than on the text; every variant has named fields.
/// Backend failures keep the driver's error as [`std::error::Error::source`]. `Error` is
/// `Clone` (sources and I/O errors are shared), so one failure can be reported to many callers.
#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("database is busy: {message}; another process held the write lock past the busy timeout, retry later or raise the timeout")]
    Busy {
        /// What was locked, as the backend reported it.
        message: String,
        /// The backend's own error, if any.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The caller's own database transaction must be rolled back and run again: it read a
    /// snapshot of the log that another writer has since moved past, so it cannot take the
    /// write lock (a SQLite `DEFERRED` transaction that read before it wrote), or the server
    /// refused it as a serialization failure (PostgreSQL `REPEATABLE READ` or `SERIALIZABLE`).
    /// Returned by [`crate::AuditTrail::record_in`]; nothing of the events was written. Retry
    /// the whole transaction; SQLite transactions begun with
    /// `TransactionBehavior::Immediate` never get it.
    #[error("retry the transaction: {message}; roll it back and run it again (begin SQLite transactions with TransactionBehavior::Immediate to avoid this)")]
    RetryTransaction {
        /// What the database reported.
        message: String,
        /// The backend's own error, if any.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },
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
    /// The database has an older schema than this auditkit writes, and was opened read-only
    /// (`sqlite::SqliteOptions::read_only`), which never migrates: open it once with
    /// write access to migrate it. A writable open migrates such a file instead.
    #[error("the database has schema version {found}, this auditkit reads version {current}; a read-only open never migrates, so open it once with write access to migrate it")]
    SchemaTooOld {
        /// The schema version found in the database.
        found: u32,
        /// The schema version this build reads and writes.
        current: u32,
    },
    /// The storage is not what auditkit expects (not a database, damaged, foreign schema).
    #[error("corrupt or foreign storage: {message}")]
    Corrupt {
        /// What is wrong and where, and what to do.
        message: String,
        /// The backend's own error, if any.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A checkpoint does not belong to this log or its signature does not verify.
    #[error("checkpoint rejected: {message}")]
    Checkpoint {
        /// Why it was rejected.
        message: String,
    },
    /// A typed payload was asked of an event of another action or an unknown version.
    #[error("payload mismatch: {message}")]
    Payload {
        /// What did not fit.
        message: String,
    },
    /// The store does not implement an optional operation.
    #[error("unsupported by this store: {message}")]
    Unsupported {
        /// The operation, and how a store would support it.
        message: String,
    },
    /// The write may or may not have been committed (e.g. the connection died during commit).
    #[error("outcome unknown: {message}; read the events back by id, or retry with the same idempotency key, before recording them again")]
    OutcomeUnknown {
        /// Which events, and what failed.
        message: String,
    },
    /// The storage backend failed.
    #[error("storage error: {message}")]
    Storage {
        /// What failed, and what to do.
        message: String,
        /// The backend's own error, if any.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// Reading or writing a file or stream failed.
    #[error("i/o error: {0}")]
    Io(#[source] Arc<std::io::Error>),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl Error {
    /// [`Error::Invalid`]: `field` was wrong, as `problem` says.
    pub fn invalid(field: impl Into<String>, problem: impl fmt::Display) -> Self {
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

    /// [`Error::Storage`] with a message (for store implementations).
    pub fn storage(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::RetryTransaction`] with the database's message.
    pub fn retry_transaction(message: impl Into<String>) -> Self {
        Error::RetryTransaction {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Storage`] keeping the backend's error as its source.
    pub fn storage_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// [`Error::Busy`] with a message (for store implementations).
    pub fn busy(message: impl Into<String>) -> Self {
        Error::Busy {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Corrupt`] with a message (for store implementations).
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error::Corrupt {
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::Unsupported`] with a message (for store implementations).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::Unsupported {
            message: message.into(),
        }
    }

    /// [`Error::OutcomeUnknown`] with a message (for store implementations).
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        Error::OutcomeUnknown {
            message: message.into(),
        }
    }

    /// [`Error::Checkpoint`] with a message.
    pub fn checkpoint(message: impl Into<String>) -> Self {
        Error::Checkpoint {
            message: message.into(),
        }
    }

    /// [`Error::Payload`] with a message (for [`crate::AuditPayload::upgrade`]).
    pub fn payload(message: impl Into<String>) -> Self {
        Error::Payload {
            message: message.into(),
        }
    }

    /// The same error with the backend's error kept as its source (for the variants that
    /// carry one: busy, retry-transaction, corrupt and storage; others are returned as they are).
    #[must_use]
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        if let Error::Busy { source, .. }
        | Error::RetryTransaction { source, .. }
        | Error::Corrupt { source, .. }
        | Error::Storage { source, .. } = &mut self
        {
            *source = Some(Arc::new(e));
        }
        self
    }

    /// True for [`Error::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// True for [`Error::Busy`].
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Busy { .. })
    }

    /// True for [`Error::RetryTransaction`]: roll the caller's transaction back and run it
    /// again.
    pub fn is_retry_transaction(&self) -> bool {
        matches!(self, Error::RetryTransaction { .. })
    }

    /// True for [`Error::Invalid`].
    pub fn is_invalid(&self) -> bool {
        matches!(self, Error::Invalid { .. })
    }

    /// True for [`Error::Corrupt`].
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_backend_failure_keeps_its_source_through_clones() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::storage_from("writing the batch failed", io);
        let copy = e.clone();
        for e in [e, copy] {
            assert_eq!(
                e.source().map(ToString::to_string).as_deref(),
                Some("disk on fire")
            );
        }
        assert!(Error::storage("plain").source().is_none());
        let io: Error = std::io::Error::other("short write").into();
        assert_eq!(
            io.source().map(ToString::to_string).as_deref(),
            Some("short write")
        );
    }
}
