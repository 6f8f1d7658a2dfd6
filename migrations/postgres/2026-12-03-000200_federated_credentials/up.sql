-- Federated workload identities. A client registered with auth method `federated` is matched
-- by its credentials: a trusted issuer's name (from config, `[[federation.issuers]]`), the
-- exact `sub`, and claims pinned to exact JSON values (a JSON object as canonical text, '{}'
-- for none). One credential per (client, issuer, subject); it goes with its client.
CREATE TABLE federated_credentials (
    client_id   TEXT COLLATE "C" NOT NULL,
    issuer      TEXT COLLATE "C" NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL,
    claims      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    CONSTRAINT federated_credentials_pkey PRIMARY KEY (client_id, issuer, subject),
    CONSTRAINT federated_credentials_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES clients (id) ON DELETE CASCADE
);

-- How each session's client authenticated: the method, and for federation the trusted
-- issuer's name and the token's subject. NULL on rows written before this migration. A
-- federated token's replay key goes in client_assertion_jti only when its issuer's jtis are
-- single-use (NULL otherwise, which never conflicts).
ALTER TABLE sessions ADD COLUMN auth_method TEXT;
ALTER TABLE sessions ADD COLUMN federated_issuer TEXT;
ALTER TABLE sessions ADD COLUMN federated_subject TEXT;
