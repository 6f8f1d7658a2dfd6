//! Operators' session use cases: listing one page, exporting every matching row page by page,
//! and purging expired rows (the one purge both `grantd session purge` and the server's
//! background task run).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grantd_domain::{SessionId, SessionRecord, Timestamp};
use grantd_ports::{SessionCursor, SessionFilter, SessionStore};

use super::input::{invalid_id, parse_client_id, parse_user_id};
use super::{Admin, AdminError, InvalidReason, Missing};

/// Rows deleted per purge statement: small enough that one batch holds the (SQLite) writer
/// for a few milliseconds at most. Other writers get the writer between two batches: its pool
/// hands the connection to waiters first come, first served.
pub(crate) const PURGE_BATCH: u32 = 500;

/// Rows read per page of an export: memory stays bounded by one page whatever the total.
pub(crate) const EXPORT_PAGE: u32 = 1000;

/// Which sessions to list, as the operator typed it (ids not yet parsed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionQuery {
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    /// Only sessions created at or after this time.
    pub since: Option<Timestamp>,
    /// Only sessions created before this time.
    pub until: Option<Timestamp>,
    /// Start after this session (the last id of the previous page), newest first.
    pub after: Option<String>,
    /// [`Admin::list_sessions`]: `None` means [`Admin::DEFAULT_SESSION_LIMIT`], at most
    /// [`Admin::MAX_SESSION_LIMIT`]. [`Admin::export_sessions`]: `None` means every row.
    pub limit: Option<u32>,
}

/// Which expired sessions a purge deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeCutoff {
    /// Those that expired longer ago than the configured `[sessions] retention`: the rows
    /// within it are the audit trail the operator chose to keep.
    Retention(Duration),
    /// Those that expired before this time, as the operator gave it. Never in the future.
    Before(Timestamp),
}

/// Every session matching a query, read page by page in listing order (newest first) with
/// keyset pagination, so an export of any size holds one page in memory.
pub struct SessionExport {
    sessions: Arc<dyn SessionStore>,
    filter: SessionFilter,
    /// Rows still allowed by the query's limit; `None`: no limit.
    remaining: Option<u64>,
    done: bool,
}

impl fmt::Debug for SessionExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionExport")
            .field("filter", &self.filter)
            .field("remaining", &self.remaining)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl SessionExport {
    /// The next page (at most [`EXPORT_PAGE`] rows), or `None` once every row was returned.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SessionRecord>>, AdminError> {
        let want = self.remaining.map_or(EXPORT_PAGE, |r| {
            u32::try_from(r.min(u64::from(EXPORT_PAGE))).unwrap_or(0)
        });
        if self.done || want == 0 {
            return Ok(None);
        }
        self.filter.limit = want;
        let rows = self
            .sessions
            .list_sessions(&self.filter)
            .await
            .map_err(|e| AdminError::store("listing sessions", e))?;
        self.done = rows.len() < want as usize;
        self.remaining = self.remaining.map(|r| r.saturating_sub(rows.len() as u64));
        match rows.last() {
            Some(last) => self.filter.after = Some(SessionCursor::of(last)),
            None => return Ok(None),
        }
        Ok(Some(rows))
    }
}

impl Admin {
    /// Sessions listed when no limit is given.
    pub const DEFAULT_SESSION_LIMIT: u32 = 50;
    /// The most rows one listing returns (they are held in memory); beyond, page with
    /// `after`, or export.
    pub const MAX_SESSION_LIMIT: u32 = 10_000;

    /// One page of sessions, newest first.
    pub async fn list_sessions(
        &self,
        query: SessionQuery,
    ) -> Result<Vec<SessionRecord>, AdminError> {
        let limit = query.limit.unwrap_or(Self::DEFAULT_SESSION_LIMIT);
        if !(1..=Self::MAX_SESSION_LIMIT).contains(&limit) {
            return Err(AdminError::Invalid(InvalidReason::SessionLimit(limit)));
        }
        let filter = SessionFilter {
            limit,
            ..self.session_filter(&query).await?
        };
        self.ports
            .sessions
            .list_sessions(&filter)
            .await
            .map_err(|e| AdminError::store("listing sessions", e))
    }

    /// Every session matching `query` (up to its limit, if any), to be read page by page.
    /// The query is checked, and its `after` session looked up, before the first page.
    pub async fn export_sessions(&self, query: SessionQuery) -> Result<SessionExport, AdminError> {
        if query.limit == Some(0) {
            return Err(AdminError::Invalid(InvalidReason::ZeroExportLimit));
        }
        let filter = self.session_filter(&query).await?;
        Ok(SessionExport {
            sessions: self.ports.sessions.clone(),
            filter,
            remaining: query.limit.map(u64::from),
            done: false,
        })
    }

    /// Deletes the sessions `cutoff` names, in batches of [`PURGE_BATCH`] until a short one.
    /// A cut-off in the future is refused: a session that has not expired backs a live token,
    /// and deleting it would silently revoke that token.
    pub async fn purge_sessions(&self, cutoff: PurgeCutoff) -> Result<u64, AdminError> {
        let now = self.ports.clock.now();
        let before = match cutoff {
            PurgeCutoff::Retention(keep) => {
                now.minus_secs(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX))
            }
            PurgeCutoff::Before(before) if before > now => {
                return Err(AdminError::Invalid(InvalidReason::PurgeCutoffInFuture));
            }
            PurgeCutoff::Before(before) => before,
        };
        let mut total: u64 = 0;
        loop {
            let deleted = self
                .ports
                .sessions
                .purge_sessions(before, PURGE_BATCH)
                .await
                .map_err(|e| AdminError::store("purging sessions", e))?;
            total = total.saturating_add(deleted);
            if deleted < u64::from(PURGE_BATCH) {
                if total > 0 {
                    self.audit(|| super::audit::sessions_purged(before, total));
                }
                return Ok(total);
            }
        }
    }

    /// The store filter of `query`, its limit left at 0 for the caller: ids parsed, the time
    /// range checked, and the `after` session resolved to its position.
    async fn session_filter(&self, query: &SessionQuery) -> Result<SessionFilter, AdminError> {
        let client_id = query
            .client_id
            .as_deref()
            .map(parse_client_id)
            .transpose()?;
        let user_id = query.user_id.as_deref().map(parse_user_id).transpose()?;
        if let (Some(since), Some(until)) = (query.since, query.until)
            && since >= until
        {
            return Err(AdminError::Invalid(InvalidReason::EmptyTimeRange));
        }
        let after = match query.after.as_deref() {
            Some(s) => Some(self.session_cursor(s).await?),
            None => None,
        };
        Ok(SessionFilter {
            client_id,
            user_id,
            since: query.since,
            until: query.until,
            after,
            limit: 0,
        })
    }

    /// Where the session `id` sits in the listing. It must exist: a page after a purged or
    /// mistyped id would silently start nowhere.
    async fn session_cursor(&self, id: &str) -> Result<SessionCursor, AdminError> {
        let id = SessionId::parse(id.trim()).map_err(|e| invalid_id(id, e))?;
        let record = self
            .ports
            .sessions
            .find_session(&id)
            .await
            .map_err(|e| AdminError::store("loading session", e))?
            .ok_or_else(|| AdminError::NotFound(Missing::Session(id.clone())))?;
        Ok(SessionCursor::of(&record))
    }
}
