-- DPoP (RFC 9449): see migrations/postgres for the reasoning. The unique index makes a proof
-- single-use; NULLs (Bearer tokens) never conflict. The client policy has no CHECK here (SQLite
-- cannot drop a column a CHECK names); the store refuses an unknown value when it reads it.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
ALTER TABLE sessions ADD COLUMN dpop_proof_jti TEXT;
CREATE UNIQUE INDEX sessions_dpop_proof_key ON sessions (dpop_proof_jti);

ALTER TABLE clients ADD COLUMN dpop TEXT NOT NULL DEFAULT 'optional';
