-- One row that readiness checks and start-up rewrite: proof that the database takes writes
-- (a read-only or full disk, a read-only replica or transaction fail here first).
CREATE TABLE write_probe (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    probes BIGINT NOT NULL
);
