DROP INDEX sessions_client_assertion_key;
ALTER TABLE sessions DROP COLUMN client_assertion_jti;
ALTER TABLE clients DROP COLUMN jwks;
