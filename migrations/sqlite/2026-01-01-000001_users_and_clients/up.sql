-- Users (client owners), clients and their secrets. Same tables as migrations/postgres, in
-- SQLite's dialect.
--
-- Timestamps are declared TIMESTAMP: diesel stores UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text,
-- which compares and sorts chronologically (grantd only writes years 0001-9999).
-- TEXT comparison is binary by default: client ids are case-sensitive, as on Postgres. Do not
-- add COLLATE NOCASE.
-- Lists (roles, scopes, grant types) are space-separated TEXT.

CREATE TABLE users (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    roles       TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE clients (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT clients_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id)
);

CREATE INDEX clients_owner_id_idx ON clients (owner_id);

-- valid_until NULL = a current secret; a rotated-out secret keeps working until valid_until.
CREATE TABLE client_secrets (
    id          INTEGER NOT NULL PRIMARY KEY,
    client_id   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    valid_until TIMESTAMP,
    CONSTRAINT client_secrets_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES clients (id) ON DELETE CASCADE
);

CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);
