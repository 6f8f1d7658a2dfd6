-- One row per issued token. No foreign keys to users or clients: sessions are an audit trail
-- that must outlive the rows they mention (see migrations/postgres for the full reasoning).
CREATE TABLE sessions (
    id              TEXT NOT NULL PRIMARY KEY,
    user_id         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    source          TEXT NOT NULL,
    jti             TEXT NOT NULL,
    client_ip       TEXT,
    user_agent      TEXT,
    accept_language TEXT,
    referer         TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP,
    revoke_reason   TEXT,
    CONSTRAINT sessions_jti_key UNIQUE (jti),
    CONSTRAINT sessions_source_check CHECK (source IN ('oauth'))
);

CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_created_at_idx ON sessions (created_at, id);
CREATE INDEX sessions_client_id_created_at_idx ON sessions (client_id, created_at, id);
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at, id);
