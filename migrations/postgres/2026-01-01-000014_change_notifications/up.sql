-- Change notifications: every write to clients, client_secrets or users, by any process
-- (grantd, its CLI, another replica, plain SQL), notifies channel `grantd_changes` with
-- 'client:<id>' or 'user:<id>'. Running servers LISTEN and drop that cache entry at once
-- (crates/grantd-store/src/changes.rs). NOTIFY is delivered at commit, and never for a
-- rolled-back change; identical payloads within one transaction are delivered once.
--
-- Arguments: the payload prefix and the column holding the id.
CREATE FUNCTION grantd_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_id TEXT;
    new_id TEXT;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_id := to_jsonb(OLD) ->> TG_ARGV[1];
        PERFORM pg_notify('grantd_changes', TG_ARGV[0] || ':' || old_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_id := to_jsonb(NEW) ->> TG_ARGV[1];
        IF new_id IS DISTINCT FROM old_id THEN
            PERFORM pg_notify('grantd_changes', TG_ARGV[0] || ':' || new_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION grantd_notify_change('client', 'id');

CREATE TRIGGER client_secrets_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION grantd_notify_change('client', 'client_id');

CREATE TRIGGER users_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION grantd_notify_change('user', 'id');
