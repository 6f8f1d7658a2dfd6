-- Signing keys. The private key is encrypted under the master key before it gets here.
CREATE TABLE signing_keys (
    kid                   TEXT NOT NULL PRIMARY KEY,
    algorithm             TEXT NOT NULL,
    encrypted_private_key BLOB NOT NULL,
    public_jwk            TEXT NOT NULL,
    state                 TEXT NOT NULL,
    created_at            TIMESTAMP NOT NULL,
    activated_at          TIMESTAMP,
    retired_at            TIMESTAMP,
    not_after             TIMESTAMP,
    CONSTRAINT signing_keys_state_check CHECK (state IN ('next', 'active', 'retired'))
);

-- At most one active and one next key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';
