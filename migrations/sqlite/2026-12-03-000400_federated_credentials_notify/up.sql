-- A client's federated credentials are cached with the client: a write to them bumps the change
-- marker like a write to the client itself (see migrations/postgres for the reasoning).

CREATE TRIGGER federated_credentials_insert_bumps_change_marker AFTER INSERT ON federated_credentials
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER federated_credentials_update_bumps_change_marker AFTER UPDATE ON federated_credentials
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER federated_credentials_delete_bumps_change_marker AFTER DELETE ON federated_credentials
BEGIN
    UPDATE change_marker SET seq = seq + 1 WHERE id = 1;
END;
