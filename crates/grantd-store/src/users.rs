//! [`UserStore`] on both backends.

use async_trait::async_trait;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use grantd_domain::{Owner, Timestamp, UserId};
use grantd_ports::{StoreError, UpdateOutcome, UserStore};

use crate::Store;
use crate::db::{with_read, with_tx, with_write};
use crate::error::to_db_time;
use crate::rows::UserRow;
use crate::schema::users;

#[async_trait]
impl UserStore for Store {
    async fn find_user(&self, id: &UserId) -> Result<Option<Owner>, StoreError> {
        let id = id.as_str().to_owned();
        let catalog = self.catalog();
        self.run(|db| async move {
            let row = with_read!(&db, |c| {
                users::table
                    .find(&id)
                    .select(UserRow::as_select())
                    .first(c)
                    .await
                    .optional()?
            });
            row.map(|r| r.into_domain(&catalog)).transpose()
        })
        .await
    }

    async fn create_user(&self, user: &Owner) -> Result<(), StoreError> {
        let row = UserRow::from_domain(user)?;
        self.run(|db| async move {
            with_write!(&db, |c| {
                diesel::insert_into(users::table)
                    .values(&row)
                    .execute(c)
                    .await?
            });
            Ok(())
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<Owner>, StoreError> {
        let catalog = self.catalog();
        self.run(|db| async move {
            let rows = with_read!(&db, |c| {
                users::table
                    .order_by((users::created_at.asc(), users::id.asc()))
                    .select(UserRow::as_select())
                    .load(c)
                    .await?
            });
            rows.into_iter().map(|r| r.into_domain(&catalog)).collect()
        })
        .await
    }

    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let now = to_db_time("updated_at", now)?;
        self.run(|db| async move {
            let n = with_write!(&db, |c| {
                diesel::update(users::table.find(&id))
                    .set((users::active.eq(active), users::updated_at.eq(now)))
                    .execute(c)
                    .await?
            });
            Ok(n > 0)
        })
        .await
    }

    async fn update_user(
        &self,
        user: &Owner,
        expected: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let row = UserRow::from_domain(user)?;
        let expected = to_db_time("expected updated_at", expected)?;
        self.run(|db| async move {
            with_tx!(&db, |c| {
                // Compare-and-set on `updated_at`, as for clients.
                let n = diesel::update(
                    users::table
                        .find(&row.id)
                        .filter(users::updated_at.eq(expected)),
                )
                .set((
                    users::name.eq(&row.name),
                    users::roles.eq(&row.roles),
                    users::active.eq(row.active),
                    users::updated_at.eq(row.updated_at),
                ))
                .execute(c)
                .await?;
                if n > 0 {
                    return Ok(UpdateOutcome::Updated);
                }
                let exists: i64 = users::table
                    .filter(users::id.eq(&row.id))
                    .count()
                    .get_result(c)
                    .await?;
                Ok(match exists {
                    0 => UpdateOutcome::NotFound,
                    _ => UpdateOutcome::Stale,
                })
            })
        })
        .await
    }
}
