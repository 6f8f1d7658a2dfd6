-- private_key_jwt (RFC 7523). A client registered with it keeps its public keys inline: a JSON
-- array of public JWKs, checked when registered (no private or symmetric members, usable
-- kty/crv, RSA >= 2048 bits, unique kids). NULL for secret-based clients.
ALTER TABLE clients ADD COLUMN jwks TEXT;

-- An assertion's replay key (base64url SHA-256 of client id "." jti) on the session row it
-- bought. The unique index makes the jti single-use across every replica, at no extra write;
-- it is remembered as long as the session row lives. NULLs (other methods) never conflict.
ALTER TABLE sessions ADD COLUMN client_assertion_jti TEXT COLLATE "C";
CREATE UNIQUE INDEX sessions_client_assertion_key ON sessions (client_assertion_jti);
