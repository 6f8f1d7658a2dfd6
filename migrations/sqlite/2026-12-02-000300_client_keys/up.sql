-- private_key_jwt (RFC 7523): see migrations/postgres for the reasoning.
ALTER TABLE clients ADD COLUMN jwks TEXT;

ALTER TABLE sessions ADD COLUMN client_assertion_jti TEXT;
CREATE UNIQUE INDEX sessions_client_assertion_key ON sessions (client_assertion_jti);
