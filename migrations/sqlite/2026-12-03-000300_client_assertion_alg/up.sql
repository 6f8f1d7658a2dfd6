-- private_key_jwt: see migrations/postgres for the reasoning.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT;
