-- Change marker: every write to clients, client_secrets or users, by any process (grantd,
-- its CLI, plain SQL), bumps this one-row counter. Running servers read it every 100 ms and,
-- when it moved, drop their cached clients and owners (crates/grantd-store/src/changes.rs).
-- SQLite has no notifications, and `PRAGMA data_version` also moves for every session insert.

CREATE TABLE change_marker (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL
);

INSERT INTO change_marker (id, seq) VALUES (1, 0);

CREATE TRIGGER clients_insert_bumps_change_marker AFTER INSERT ON clients
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER clients_update_bumps_change_marker AFTER UPDATE ON clients
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER clients_delete_bumps_change_marker AFTER DELETE ON clients
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER client_secrets_insert_bumps_change_marker AFTER INSERT ON client_secrets
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER client_secrets_update_bumps_change_marker AFTER UPDATE ON client_secrets
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER client_secrets_delete_bumps_change_marker AFTER DELETE ON client_secrets
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER users_insert_bumps_change_marker AFTER INSERT ON users
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER users_update_bumps_change_marker AFTER UPDATE ON users
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER users_delete_bumps_change_marker AFTER DELETE ON users
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;
