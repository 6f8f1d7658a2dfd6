-- Federated workload identities: see migrations/postgres for the reasoning.
CREATE TABLE federated_credentials (
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    claims      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, issuer, subject)
);

ALTER TABLE sessions ADD COLUMN auth_method TEXT;
ALTER TABLE sessions ADD COLUMN federated_issuer TEXT;
ALTER TABLE sessions ADD COLUMN federated_subject TEXT;
