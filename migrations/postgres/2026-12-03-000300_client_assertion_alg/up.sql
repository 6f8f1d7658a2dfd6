-- private_key_jwt: the one algorithm a client's assertions must use, when it registered one
-- (`token_endpoint_auth_signing_alg`, OIDC Dynamic Client Registration §2): ES256, EdDSA, RS256
-- or PS256. NULL: whatever its keys allow.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT;
