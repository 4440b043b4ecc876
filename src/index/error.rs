//! How the index fails: outages, cancelled statements, and the conflicts a user can cause.

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("this owner already has a ticket with that name")]
    NameTaken,
    #[error("parent ticket does not exist")]
    UnknownParent,
    #[error("no such ticket")]
    NotFound,
    #[error("index unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The user already holds this many live tokens.
    #[error("the user already has {0} live tokens")]
    TooManyTokens(u32),
    /// The statement ran past the serving pool's `statement_timeout` and was cancelled.
    #[error("statement cancelled: {0}")]
    Cancelled(#[source] sqlx::Error),
    /// The user already reported a result of this kind, dataset and seed for this ticket.
    #[error("this result was already reported")]
    DuplicateResult,
    /// The ticket holds the most results it may.
    #[error("the ticket already has {0} results")]
    TooManyResults(usize),
    /// Tokens are for people: the name is an organization's.
    #[error("'{0}' is an organization: tokens belong to its members")]
    NotAUser(String),
    #[error("index error: {0}")]
    Other(#[source] sqlx::Error),
}

impl IndexError {
    /// Connection trouble is an outage (503); anything else is a bug (500).
    pub(crate) fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => IndexError::Unavailable(e),
            // 57014 query_canceled: our statement_timeout fired.
            sqlx::Error::Database(ref d) if d.code().as_deref() == Some("57014") => {
                IndexError::Cancelled(e)
            }
            _ => IndexError::Other(e),
        }
    }

    /// Whether the database certainly did not apply the write: it answered with an error (a
    /// constraint, a cancelled statement...), so the transaction rolled back. A broken
    /// connection leaves the outcome unknown, since the COMMIT may have been applied.
    pub fn outcome_known(&self) -> bool {
        match self {
            IndexError::NameTaken
            | IndexError::UnknownParent
            | IndexError::NotFound
            | IndexError::TooManyTokens(_)
            | IndexError::DuplicateResult
            | IndexError::TooManyResults(_)
            | IndexError::NotAUser(_)
            | IndexError::Cancelled(_) => true,
            IndexError::Unavailable(e) => {
                matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
            }
            IndexError::Other(e) => matches!(e, sqlx::Error::Database(_)),
        }
    }

    /// Whether an insert hit a unique constraint (a name or identity already taken).
    pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
        e.as_database_error()
            .is_some_and(|d| matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation))
    }

    /// On a result's insert, its unique key is a repeated result.
    pub(super) fn from_result_insert(e: sqlx::Error) -> Self {
        match e.as_database_error().map(|d| d.kind()) {
            Some(sqlx::error::ErrorKind::UniqueViolation) => IndexError::DuplicateResult,
            _ => IndexError::from_sqlx(e),
        }
    }

    /// On insert, the (owner, name) key is a taken name and a foreign key is the parent; any
    /// other violation is a bug, not the user's conflict.
    pub(super) fn from_insert(e: sqlx::Error) -> Self {
        let Some(db) = e.as_database_error() else {
            return IndexError::from_sqlx(e);
        };
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation
                if is_owner_name_conflict(db.constraint(), db.message()) =>
            {
                IndexError::NameTaken
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => IndexError::UnknownParent,
            _ => IndexError::from_sqlx(e),
        }
    }
}

/// Whether a unique violation is the `(owner_id, name)` key of tickets: by the constraint's
/// name on Postgres; on SQLite, whose driver reports no names, by the columns its message lists.
fn is_owner_name_conflict(constraint: Option<&str>, message: &str) -> bool {
    match constraint {
        Some(name) => name == "tickets_owner_name_key",
        None => message.contains("tickets.owner_id, tickets.name"),
    }
}

pub type IndexResult<T> = Result<T, IndexError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_name_key_is_a_taken_name() {
        // Postgres names the constraint; SQLite's message names the columns.
        assert!(is_owner_name_conflict(Some("tickets_owner_name_key"), ""));
        assert!(!is_owner_name_conflict(Some("tickets_pkey"), ""));
        assert!(!is_owner_name_conflict(Some("tickets_seq_key"), ""));
        assert!(is_owner_name_conflict(
            None,
            "UNIQUE constraint failed: tickets.owner_id, tickets.name"
        ));
        assert!(!is_owner_name_conflict(
            None,
            "UNIQUE constraint failed: tickets.id"
        ));
    }
}
