ALTER TABLE clients DROP COLUMN dpop;
DROP INDEX sessions_dpop_proof_key;
ALTER TABLE sessions DROP COLUMN dpop_proof_jti;
ALTER TABLE sessions DROP COLUMN dpop_jkt;
