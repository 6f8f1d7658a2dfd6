-- One row per issued token: the only write on the token path.
--
-- No foreign keys to users or clients, on purpose: sessions are an audit trail that must
-- outlive the rows they mention, and on Postgres a foreign-key check takes a KEY SHARE lock on
-- the parent row, which for one busy client turns every concurrent insert into MultiXact churn.
-- The use case has just loaded both rows when it writes a session.
CREATE TABLE sessions (
    id              TEXT COLLATE "C" NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    client_id       TEXT COLLATE "C" NOT NULL,
    source          TEXT NOT NULL,
    jti             TEXT COLLATE "C" NOT NULL,
    client_ip       TEXT,
    user_agent      TEXT,
    accept_language TEXT,
    referer         TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP,
    revoke_reason   TEXT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_jti_key UNIQUE (jti),
    CONSTRAINT sessions_source_check CHECK (source IN ('oauth'))
);

-- Purge walks expired rows in expiry order.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
-- Admin listing, newest first (created_at DESC, id DESC), whole table or per client / owner.
CREATE INDEX sessions_created_at_idx ON sessions (created_at, id);
CREATE INDEX sessions_client_id_created_at_idx ON sessions (client_id, created_at, id);
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at, id);
