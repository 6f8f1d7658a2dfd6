-- private_key_jwt with keys published by the client: see migrations/postgres.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
