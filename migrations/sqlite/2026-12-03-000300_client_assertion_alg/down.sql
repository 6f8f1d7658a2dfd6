ALTER TABLE clients DROP COLUMN token_endpoint_auth_signing_alg;
