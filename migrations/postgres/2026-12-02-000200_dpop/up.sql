-- DPoP (RFC 9449). A bound token's session row records the key thumbprint (cnf.jkt) and the
-- proof's replay key (base64url SHA-256 of thumbprint "." jti). The unique index is what makes
-- a proof single-use across every replica: a replayed proof's row conflicts, so no second
-- token is handed out, and a bound token still costs exactly one write. NULLs (Bearer tokens)
-- never conflict.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN dpop_proof_jti TEXT COLLATE "C";
CREATE UNIQUE INDEX sessions_dpop_proof_key ON sessions (dpop_proof_jti);

-- Per-client policy: whether a token request must carry a DPoP proof.
ALTER TABLE clients ADD COLUMN dpop TEXT NOT NULL DEFAULT 'optional'
    CONSTRAINT clients_dpop_check CHECK (dpop IN ('optional', 'required'));
