-- Users (client owners), clients and their secrets.
--
-- Timestamps are UTC `TIMESTAMP` (µs precision, the domain's unit), always set by grantd: no
-- DEFAULT now(), which would depend on the session's TimeZone.
-- Identifiers use COLLATE "C": byte-wise comparison and ordering, as on SQLite, whatever the
-- database's default collation ("Svc" and "svc" are different clients and sort the same way
-- on both backends).
-- Lists (roles, scopes, grant types) are space-separated TEXT: their values never contain
-- spaces (the OAuth `scope` syntax).

CREATE TABLE users (
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    roles       TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE clients (
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    owner_id    TEXT COLLATE "C" NOT NULL,
    scopes      TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT clients_pkey PRIMARY KEY (id),
    CONSTRAINT clients_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id)
);

CREATE INDEX clients_owner_id_idx ON clients (owner_id);

-- valid_until NULL = a current secret; a rotated-out secret keeps working until valid_until
-- (the grace period), so rotation needs no schema change.
CREATE TABLE client_secrets (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    client_id   TEXT COLLATE "C" NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    valid_until TIMESTAMP,
    CONSTRAINT client_secrets_pkey PRIMARY KEY (id),
    CONSTRAINT client_secrets_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES clients (id) ON DELETE CASCADE
);

CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);
