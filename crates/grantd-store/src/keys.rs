//! [`SigningKeyStore`] on both backends: bootstrap and rotation are transactions serialized
//! across replicas.

use std::future::Future;

use async_trait::async_trait;
use diesel::sql_types::BigInt;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use grantd_domain::{Kid, Timestamp};
use grantd_ports::{KeyState, SigningKeyRecord, SigningKeyStore, StoreError};

use crate::Store;
use crate::db::{SqliteConn, with_read, with_tx, with_write};
use crate::error::{Error, corrupt, to_db_time};
use crate::rows::KeyRow;
use crate::schema::signing_keys;

/// Advisory-lock key for signing-key changes ("grantdk1").
const KEY_LOCK: i64 = 0x6772_616e_7464_6b31;

/// Takes the lock that serializes key changes across replicas, inside the current transaction.
trait SerializeKeyChanges {
    fn lock_signing_keys(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
}

impl SerializeKeyChanges for AsyncPgConnection {
    async fn lock_signing_keys(&mut self) -> Result<(), Error> {
        // Released at commit or rollback. Plain row locks would not do: bootstrap has no row
        // to lock yet.
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(KEY_LOCK)
            .execute(self)
            .await?;
        Ok(())
    }
}

impl SerializeKeyChanges for SqliteConn {
    async fn lock_signing_keys(&mut self) -> Result<(), Error> {
        // `BEGIN IMMEDIATE` (see `with_tx!`) already holds the database's write lock.
        Ok(())
    }
}

fn row_in_state(record: &SigningKeyRecord, state: KeyState) -> Result<KeyRow, Error> {
    let mut row = KeyRow::from_domain(record)?;
    row.state = state.as_str().to_owned();
    Ok(row)
}

#[async_trait]
impl SigningKeyStore for Store {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.run(|db| async move {
            let rows = with_read!(&db, |c| {
                signing_keys::table
                    .order_by((signing_keys::created_at.asc(), signing_keys::kid.asc()))
                    .select(KeyRow::as_select())
                    .load(c)
                    .await?
            });
            rows.into_iter().map(KeyRow::into_domain).collect()
        })
        .await
    }

    async fn bootstrap_signing_keys(
        &self,
        active: &SigningKeyRecord,
        next: &SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        let rows = vec![
            row_in_state(active, KeyState::Active)?,
            row_in_state(next, KeyState::Next)?,
        ];
        self.run(|db| async move {
            with_tx!(&db, |c| {
                c.lock_signing_keys().await?;
                let existing: i64 = signing_keys::table
                    .filter(signing_keys::state.eq(KeyState::Active.as_str()))
                    .count()
                    .get_result(c)
                    .await?;
                if existing > 0 {
                    return Ok(false);
                }
                // Row by row: diesel-async has no multi-row INSERT for SQLite.
                for row in &rows {
                    diesel::insert_into(signing_keys::table)
                        .values(row)
                        .execute(c)
                        .await?;
                }
                Ok(true)
            })
        })
        .await
    }

    async fn rotate_signing_keys(
        &self,
        expected_active: &Kid,
        new_next: &SigningKeyRecord,
        now: Timestamp,
        retired_not_after: Timestamp,
    ) -> Result<Option<Kid>, StoreError> {
        let new_row = row_in_state(new_next, KeyState::Next)?;
        let now = to_db_time("now", now)?;
        let not_after = to_db_time("retired_not_after", retired_not_after)?;
        let expected = expected_active.as_str().to_owned();
        self.run(|db| async move {
            with_tx!(&db, |c| {
                c.lock_signing_keys().await?;
                let active: Option<String> = signing_keys::table
                    .filter(signing_keys::state.eq(KeyState::Active.as_str()))
                    .select(signing_keys::kid)
                    .first(c)
                    .await
                    .optional()?;
                if active.as_deref() != Some(expected.as_str()) {
                    // Another replica rotated first (or there is no active key): no change.
                    return Ok(None);
                }
                let next: Option<String> = signing_keys::table
                    .filter(signing_keys::state.eq(KeyState::Next.as_str()))
                    .select(signing_keys::kid)
                    .first(c)
                    .await
                    .optional()?;
                let Some(next) = next else {
                    return Err(Error(StoreError::NotFound(
                        grantd_ports::Missing::NextSigningKey,
                    )));
                };
                // In this order, so the one-active / one-next unique indexes hold after each
                // statement.
                diesel::update(signing_keys::table.find(&expected))
                    .set((
                        signing_keys::state.eq(KeyState::Retired.as_str()),
                        signing_keys::retired_at.eq(Some(now)),
                        signing_keys::not_after.eq(Some(not_after)),
                    ))
                    .execute(c)
                    .await?;
                diesel::update(signing_keys::table.find(&next))
                    .set((
                        signing_keys::state.eq(KeyState::Active.as_str()),
                        signing_keys::activated_at.eq(Some(now)),
                    ))
                    .execute(c)
                    .await?;
                diesel::insert_into(signing_keys::table)
                    .values(&new_row)
                    .execute(c)
                    .await?;
                Kid::parse(&next)
                    .map(Some)
                    .map_err(|_| corrupt("signing_keys", "kid"))
            })
        })
        .await
    }

    async fn delete_expired_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = to_db_time("now", now)?;
        self.run(|db| async move {
            let n = with_write!(&db, |c| {
                diesel::delete(
                    signing_keys::table
                        .filter(signing_keys::state.eq(KeyState::Retired.as_str()))
                        .filter(signing_keys::not_after.lt(now)),
                )
                .execute(c)
                .await?
            });
            Ok(n as u64)
        })
        .await
    }
}
