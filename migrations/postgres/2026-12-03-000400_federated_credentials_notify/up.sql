-- A client's federated credentials are cached with the client (crates/grantd-store/src/
-- cache.rs): a write to them by any process (grantd, its CLI, another replica, plain SQL)
-- notifies 'client:<client_id>' like a write to the client itself, so every running server
-- drops that client's entry, credentials included, at once instead of after `cache.ttl`.
CREATE TRIGGER federated_credentials_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON federated_credentials
    FOR EACH ROW EXECUTE FUNCTION grantd_notify_change('client', 'client_id');
