//! The diesel schema: one `table!` per table, valid on both backends because every column uses
//! a portable SQL type (Text, Bool, Timestamp, BigInt, Binary). It mirrors migrations/postgres
//! and migrations/sqlite; the contract tests exercise every column on both.

diesel::table! {
    users (id) {
        id -> Text,
        name -> Text,
        email -> Text,
        roles -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        owner_id -> Text,
        scopes -> Text,
        grant_types -> Text,
        auth_method -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        rate_per_second -> Nullable<BigInt>,
        rate_burst -> Nullable<BigInt>,
        quota_per_hour -> Nullable<BigInt>,
        quota_per_day -> Nullable<BigInt>,
        dpop -> Text,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        token_endpoint_auth_signing_alg -> Nullable<Text>,
    }
}

diesel::table! {
    client_secrets (id) {
        id -> BigInt,
        client_id -> Text,
        hash -> Text,
        created_at -> Timestamp,
        valid_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        client_id -> Text,
        source -> Text,
        jti -> Text,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        accept_language -> Nullable<Text>,
        referer -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoke_reason -> Nullable<Text>,
        dpop_jkt -> Nullable<Text>,
        dpop_proof_jti -> Nullable<Text>,
        client_assertion_jti -> Nullable<Text>,
        auth_method -> Nullable<Text>,
        federated_issuer -> Nullable<Text>,
        federated_subject -> Nullable<Text>,
    }
}

diesel::table! {
    federated_credentials (client_id, issuer, subject) {
        client_id -> Text,
        issuer -> Text,
        subject -> Text,
        claims -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        encrypted_private_key -> Binary,
        public_jwk -> Text,
        state -> Text,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        retired_at -> Nullable<Timestamp>,
        not_after -> Nullable<Timestamp>,
    }
}

diesel::joinable!(client_secrets -> clients (client_id));
diesel::joinable!(federated_credentials -> clients (client_id));
diesel::joinable!(clients -> users (owner_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    client_secrets,
    sessions,
    signing_keys,
    federated_credentials
);
