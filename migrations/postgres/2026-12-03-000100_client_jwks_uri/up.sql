-- private_key_jwt with keys published by the client (RFC 7591 §2 jwks_uri): the URL, checked
-- when registered (https, or http to loopback while the configuration allows it). A client has
-- inline keys (clients.jwks) or a jwks_uri, never both; NULL for every other client.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
