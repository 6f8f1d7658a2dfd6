//! [`SessionStore`] on both backends. Inserts go through the group-commit writer
//! (`batch.rs`); everything else is a plain query.

use async_trait::async_trait;
use diesel::sql_types::{Nullable, Text, Timestamp as SqlTimestamp};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, IntoSql, OptionalExtension, QueryDsl,
    SelectableHelper,
};
use diesel_async::RunQueryDsl;
use grantd_domain::{ClientId, NewSession, SessionId, SessionRecord, Timestamp};
use grantd_ports::{IssuedSince, SessionFilter, SessionStore, StoreError};

use crate::Store;
use crate::db::{with_read, with_write};
use crate::error::{MAX_REASON, check_text, from_db_time, to_db_time};
use crate::rows::SessionRow;
use crate::schema::sessions;

#[async_trait]
impl SessionStore for Store {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let row = SessionRow::from_domain(session)?;
        self.inner.sessions.insert(row).await
    }

    async fn find_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.as_str().to_owned();
        self.run(|db| async move {
            let row = with_read!(&db, |c| {
                sessions::table
                    .find(&id)
                    .select(SessionRow::as_select())
                    .first(c)
                    .await
                    .optional()?
            });
            row.map(SessionRow::into_domain).transpose()
        })
        .await
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        at: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError> {
        check_text("revoke reason", reason, MAX_REASON)?;
        let id = id.as_str().to_owned();
        let at = to_db_time("revoked_at", at)?;
        let reason = reason.to_owned();
        self.run(|db| async move {
            // One statement that matches the row whether or not it is revoked (so the count
            // says whether it exists) and keeps a first revocation: both CASEs read the
            // pre-update `revoked_at`.
            let n = with_write!(&db, |c| {
                let first = sessions::revoked_at.is_null();
                diesel::update(sessions::table.find(&id))
                    .set((
                        sessions::revoked_at.eq(diesel::dsl::case_when(
                            first,
                            Some(at).into_sql::<Nullable<SqlTimestamp>>(),
                        )
                        .otherwise(sessions::revoked_at)),
                        sessions::revoke_reason.eq(diesel::dsl::case_when(
                            first,
                            Some(reason.as_str()).into_sql::<Nullable<Text>>(),
                        )
                        .otherwise(sessions::revoke_reason)),
                    ))
                    .execute(c)
                    .await?
            });
            Ok(n > 0)
        })
        .await
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let client = filter.client_id.as_ref().map(|c| c.as_str().to_owned());
        let user = filter.user_id.as_ref().map(|u| u.as_str().to_owned());
        let since = filter.since.map(|t| to_db_time("since", t)).transpose()?;
        let until = filter.until.map(|t| to_db_time("until", t)).transpose()?;
        let after = match &filter.after {
            Some(a) => Some((to_db_time("after", a.created_at)?, a.id.as_str().to_owned())),
            None => None,
        };
        let limit = i64::from(filter.limit);
        self.run(|db| async move {
            let rows = with_read!(&db, |c| {
                // Every filter is a prefix of one of the (created_at, id), (client_id,
                // created_at, id) and (user_id, created_at, id) indexes, read backwards.
                let mut query = sessions::table
                    .select(SessionRow::as_select())
                    .order_by((sessions::created_at.desc(), sessions::id.desc()))
                    .limit(limit)
                    .into_boxed();
                if let Some(client) = &client {
                    query = query.filter(sessions::client_id.eq(client));
                }
                if let Some(user) = &user {
                    query = query.filter(sessions::user_id.eq(user));
                }
                if let Some(since) = since {
                    query = query.filter(sessions::created_at.ge(since));
                }
                if let Some(until) = until {
                    query = query.filter(sessions::created_at.lt(until));
                }
                if let Some((at, id)) = &after {
                    // (created_at, id) < (at, id), spelled so that both backends bound the
                    // index scan by the first condition; the second only sieves the rows
                    // created in the same microsecond as the cursor.
                    query = query
                        .filter(sessions::created_at.le(*at))
                        .filter(sessions::created_at.lt(*at).or(sessions::id.lt(id)));
                }
                query.load(c).await?
            });
            rows.into_iter().map(SessionRow::into_domain).collect()
        })
        .await
    }

    async fn purge_sessions(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 {
            return Ok(0);
        }
        let before = to_db_time("before", before)?;
        let batch = i64::from(batch);
        self.run(|db| async move {
            // DELETE has no portable LIMIT (SQLite needs a compile-time option), so the batch is
            // chosen by a subquery, oldest expiry first.
            let n = with_write!(&db, |c| {
                // diesel needs an alias for a subquery on the table being deleted from.
                let expired = diesel::alias!(sessions as expired);
                let ids = expired
                    .select(expired.field(sessions::id))
                    .filter(expired.field(sessions::expires_at).lt(before))
                    .order_by(expired.field(sessions::expires_at).asc())
                    .limit(batch);
                diesel::delete(sessions::table.filter(sessions::id.eq_any(ids)))
                    .execute(c)
                    .await?
            });
            Ok(n as u64)
        })
        .await
    }

    async fn issued_since(
        &self,
        client: &ClientId,
        since: Timestamp,
    ) -> Result<IssuedSince, StoreError> {
        let client = client.as_str().to_owned();
        let since = to_db_time("since", since)?;
        self.run(|db| async move {
            // One aggregate over sessions_client_id_created_at_idx.
            let (count, oldest) = with_read!(&db, |c| {
                sessions::table
                    .filter(sessions::client_id.eq(&client))
                    .filter(sessions::created_at.ge(since))
                    .select((
                        diesel::dsl::count_star(),
                        diesel::dsl::min(sessions::created_at),
                    ))
                    .first::<(i64, Option<chrono::NaiveDateTime>)>(c)
                    .await?
            });
            Ok(IssuedSince {
                count: u64::try_from(count).unwrap_or(0),
                oldest: oldest.map(from_db_time),
            })
        })
        .await
    }
}
