//! [`FederatedCredentialStore`] on both backends: one row per (client, issuer, subject), the
//! pinned claims as one JSON object.

use async_trait::async_trait;
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use grantd_domain::{ClientId, FederatedCredential, IssuerName, PinnedClaim, Timestamp};
use grantd_ports::{FederatedCredentialStore, Missing, Problem, StoreError};
use serde_json::{Map, Value};

use crate::Store;
use crate::db::{with_read, with_tx, with_write};
use crate::error::{Error, MAX_JWK, MAX_NAME, check_text, corrupt, invalid, to_db_time};
use crate::schema::{clients, federated_credentials};

#[derive(Debug, diesel::Queryable, diesel::Selectable, diesel::Insertable)]
#[diesel(table_name = federated_credentials)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct CredentialRow {
    client_id: String,
    issuer: String,
    subject: String,
    claims: String,
    created_at: chrono::NaiveDateTime,
}

impl CredentialRow {
    fn from_domain(
        client: &ClientId,
        c: &FederatedCredential,
        now: Timestamp,
    ) -> Result<Self, Error> {
        check_text("federated subject", &c.subject, MAX_NAME)?;
        let mut claims = Map::new();
        for p in &c.claims {
            check_text("pinned claim", &p.value_json, MAX_JWK)?;
            // The app hands canonical JSON; anything else is refused, never stored as text.
            let value: Value = serde_json::from_str(&p.value_json)
                .map_err(|_| invalid("pinned claim", Problem::EmptyItem))?;
            claims.insert(p.name.clone(), value);
        }
        let claims = Value::Object(claims).to_string();
        check_text("pinned claims", &claims, MAX_JWK)?;
        Ok(Self {
            client_id: client.as_str().to_owned(),
            issuer: c.issuer.as_str().to_owned(),
            subject: c.subject.clone(),
            claims,
            created_at: to_db_time("created_at", now)?,
        })
    }

    fn into_domain(self) -> Result<FederatedCredential, Error> {
        let bad = || corrupt("federated_credentials", "claims");
        let map: Map<String, Value> = serde_json::from_str(&self.claims).map_err(|_| bad())?;
        Ok(FederatedCredential {
            issuer: IssuerName::parse(&self.issuer)
                .ok_or_else(|| corrupt("federated_credentials", "issuer"))?,
            subject: self.subject,
            claims: map
                .into_iter()
                .map(|(name, v)| PinnedClaim {
                    name,
                    value_json: v.to_string(),
                })
                .collect(),
        })
    }
}

#[async_trait]
impl FederatedCredentialStore for Store {
    async fn federated_credentials(
        &self,
        client: &ClientId,
    ) -> Result<Vec<FederatedCredential>, StoreError> {
        let id = client.as_str().to_owned();
        self.run(|db| async move {
            let rows = with_read!(&db, |c| {
                federated_credentials::table
                    .filter(federated_credentials::client_id.eq(&id))
                    .order_by((
                        federated_credentials::issuer.asc(),
                        federated_credentials::subject.asc(),
                    ))
                    .select(CredentialRow::as_select())
                    .load::<CredentialRow>(c)
                    .await?
            });
            rows.into_iter()
                .map(CredentialRow::into_domain)
                .collect::<Result<Vec<_>, _>>()
        })
        .await
    }

    async fn add_federated_credential(
        &self,
        client: &ClientId,
        credential: &FederatedCredential,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let row = CredentialRow::from_domain(client, credential, now)?;
        self.run(|db| async move {
            with_tx!(&db, |c| {
                // The client's existence checked in the transaction: SQLite's foreign-key
                // message names no constraint, and the answer must be NotFound either way.
                let found: i64 = clients::table
                    .filter(clients::id.eq(&row.client_id))
                    .count()
                    .get_result(c)
                    .await?;
                if found == 0 {
                    return Err(Error::from(StoreError::NotFound(Missing::Row)));
                }
                diesel::insert_into(federated_credentials::table)
                    .values(&row)
                    .execute(c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn remove_federated_credential(
        &self,
        client: &ClientId,
        issuer: &IssuerName,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let (id, issuer, subject) = (
            client.as_str().to_owned(),
            issuer.as_str().to_owned(),
            subject.to_owned(),
        );
        self.run(|db| async move {
            let n = with_write!(&db, |c| {
                diesel::delete(
                    federated_credentials::table
                        .filter(federated_credentials::client_id.eq(&id))
                        .filter(federated_credentials::issuer.eq(&issuer))
                        .filter(federated_credentials::subject.eq(&subject)),
                )
                .execute(c)
                .await?
            });
            Ok(n > 0)
        })
        .await
    }
}
