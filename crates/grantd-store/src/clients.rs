//! [`ClientStore`] on both backends.

use async_trait::async_trait;
use diesel::{ExpressionMethods, NullableExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use grantd_domain::{
    Client, ClientId, ClientKeys, ClientLimits, ClientSecret, DpopPolicy, Timestamp,
};
use grantd_ports::{ClientStore, StoreError, UpdateOutcome};

use crate::Store;
use crate::db::{with_read, with_tx, with_write};
use crate::error::{MAX_HASH, check_text, to_db_time};
use crate::rows::{ClientRow, LimitsRow, NewSecretRow, SecretRow, clients_from_join, encode_keys};
use crate::schema::{client_secrets, clients};

/// A compare-and-set write's outcome: `n` rows changed, else whether the client exists (so
/// the write found another `updated_at`). A macro: each backend has its own connection type.
macro_rules! cas_outcome {
    ($c:ident, $n:expr, $id:expr) => {{
        if $n > 0 {
            Ok(UpdateOutcome::Updated)
        } else {
            let exists: i64 = clients::table
                .filter(clients::id.eq($id))
                .count()
                .get_result($c)
                .await?;
            Ok(match exists {
                0 => UpdateOutcome::NotFound,
                _ => UpdateOutcome::Stale,
            })
        }
    }};
}

#[async_trait]
impl ClientStore for Store {
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let id = id.as_str().to_owned();
        let catalog = self.catalog();
        self.run(|db| async move {
            // One round trip: the client and its secrets through a LEFT JOIN.
            let rows = with_read!(&db, |c| {
                clients::table
                    .left_join(client_secrets::table)
                    .filter(clients::id.eq(&id))
                    .order_by((
                        client_secrets::created_at.nullable().asc(),
                        client_secrets::id.nullable().asc(),
                    ))
                    .select((ClientRow::as_select(), Option::<SecretRow>::as_select()))
                    .load::<(ClientRow, Option<SecretRow>)>(c)
                    .await?
            });
            Ok(clients_from_join(rows, &catalog)?.pop())
        })
        .await
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let (row, secrets) = ClientRow::from_domain(client)?;
        self.run(|db| async move {
            with_tx!(&db, |c| {
                diesel::insert_into(clients::table)
                    .values(&row)
                    .execute(c)
                    .await?;
                // Row by row: diesel-async has no multi-row INSERT for SQLite, and a client has
                // one or two secrets.
                for secret in &secrets {
                    diesel::insert_into(client_secrets::table)
                        .values(secret)
                        .execute(c)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let catalog = self.catalog();
        self.run(|db| async move {
            let rows = with_read!(&db, |c| {
                clients::table
                    .left_join(client_secrets::table)
                    .order_by((
                        clients::created_at.asc(),
                        clients::id.asc(),
                        client_secrets::created_at.nullable().asc(),
                        client_secrets::id.nullable().asc(),
                    ))
                    .select((ClientRow::as_select(), Option::<SecretRow>::as_select()))
                    .load::<(ClientRow, Option<SecretRow>)>(c)
                    .await?
            });
            clients_from_join(rows, &catalog)
        })
        .await
    }

    async fn set_client_active(
        &self,
        id: &ClientId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let now = to_db_time("updated_at", now)?;
        self.run(|db| async move {
            let n = with_write!(&db, |c| {
                diesel::update(clients::table.find(&id))
                    .set((clients::active.eq(active), clients::updated_at.eq(now)))
                    .execute(c)
                    .await?
            });
            Ok(n > 0)
        })
        .await
    }

    async fn set_client_dpop(
        &self,
        id: &ClientId,
        dpop: DpopPolicy,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let now = to_db_time("updated_at", now)?;
        self.run(|db| async move {
            let n = with_write!(&db, |c| {
                diesel::update(clients::table.find(&id))
                    .set((clients::dpop.eq(dpop.as_str()), clients::updated_at.eq(now)))
                    .execute(c)
                    .await?
            });
            Ok(n > 0)
        })
        .await
    }

    async fn set_client_keys(
        &self,
        id: &ClientId,
        keys: &ClientKeys,
        expected: Timestamp,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let id = id.as_str().to_owned();
        let expected = to_db_time("expected updated_at", expected)?;
        let now = to_db_time("updated_at", now)?;
        let jwks = encode_keys(keys);
        let uri = keys.jwks_uri().map(|u| u.as_str().to_owned());
        let alg = keys.alg().map(|a| a.as_str());
        self.run(|db| async move {
            with_tx!(&db, |c| {
                let n = diesel::update(
                    clients::table
                        .find(&id)
                        .filter(clients::updated_at.eq(expected)),
                )
                .set((
                    clients::jwks.eq(&jwks),
                    clients::jwks_uri.eq(&uri),
                    clients::token_endpoint_auth_signing_alg.eq(alg),
                    clients::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
                cas_outcome!(c, n, &id)
            })
        })
        .await
    }

    async fn rotate_secret(
        &self,
        id: &ClientId,
        secret: &ClientSecret,
        previous_valid_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let new = NewSecretRow::from_domain(id, secret)?;
        let until = to_db_time("previous_valid_until", previous_valid_until)?;
        let id = id.as_str().to_owned();
        self.run(|db| async move {
            with_tx!(&db, |c| {
                // Touching the client first both checks it exists and, on Postgres, locks its
                // row, so two concurrent rotations of one client run one after the other (each
                // then sees the other's new secret as current). The new secret's creation time
                // is the rotation time.
                let found = diesel::update(clients::table.find(&id))
                    .set(clients::updated_at.eq(new.created_at))
                    .execute(c)
                    .await?;
                if found == 0 {
                    return Ok(false);
                }
                // Only current secrets get an end; secrets already in a grace period keep theirs.
                diesel::update(
                    client_secrets::table
                        .filter(client_secrets::client_id.eq(&id))
                        .filter(client_secrets::valid_until.is_null()),
                )
                .set(client_secrets::valid_until.eq(Some(until)))
                .execute(c)
                .await?;
                diesel::insert_into(client_secrets::table)
                    .values(&new)
                    .execute(c)
                    .await?;
                Ok(true)
            })
        })
        .await
    }

    async fn replace_secret_hash(
        &self,
        id: &ClientId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        check_text("secret hash", new_hash, MAX_HASH)?;
        let id = id.as_str().to_owned();
        let (old, new) = (old_hash.to_owned(), new_hash.to_owned());
        self.run(|db| async move {
            // Keyed by the old hash itself (salted, so unique): if another node replaced it
            // first there is nothing left to match, and nothing changes.
            let n = with_write!(&db, |c| {
                diesel::update(
                    client_secrets::table
                        .filter(client_secrets::client_id.eq(&id))
                        .filter(client_secrets::hash.eq(&old)),
                )
                .set(client_secrets::hash.eq(&new))
                .execute(c)
                .await?
            });
            Ok(n > 0)
        })
        .await
    }

    async fn set_client_limits(
        &self,
        id: &ClientId,
        limits: &ClientLimits,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let row = LimitsRow::from_domain(limits);
        let id = id.as_str().to_owned();
        let now = to_db_time("updated_at", now)?;
        self.run(|db| async move {
            let n = with_write!(&db, |c| {
                diesel::update(clients::table.find(&id))
                    .set((&row, clients::updated_at.eq(now)))
                    .execute(c)
                    .await?
            });
            Ok(n > 0)
        })
        .await
    }

    async fn update_client(
        &self,
        client: &Client,
        expected: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let (row, _) = ClientRow::from_domain(client)?;
        let expected = to_db_time("expected updated_at", expected)?;
        let limits = LimitsRow::from_domain(&client.limits);
        self.run(|db| async move {
            with_tx!(&db, |c| {
                // Compare-and-set on `updated_at`: the write lands only on the state the
                // caller read, so a concurrent change is never silently overwritten.
                let n = diesel::update(
                    clients::table
                        .find(&row.id)
                        .filter(clients::updated_at.eq(expected)),
                )
                .set((
                    clients::name.eq(&row.name),
                    clients::owner_id.eq(&row.owner_id),
                    clients::scopes.eq(&row.scopes),
                    clients::grant_types.eq(&row.grant_types),
                    clients::auth_method.eq(&row.auth_method),
                    clients::active.eq(row.active),
                    clients::dpop.eq(&row.dpop),
                    &limits,
                    clients::updated_at.eq(row.updated_at),
                ))
                .execute(c)
                .await?;
                cas_outcome!(c, n, &row.id)
            })
        })
        .await
    }
}
