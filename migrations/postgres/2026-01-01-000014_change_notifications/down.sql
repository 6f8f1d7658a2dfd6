DROP TRIGGER users_notify_change ON users;
DROP TRIGGER client_secrets_notify_change ON client_secrets;
DROP TRIGGER clients_notify_change ON clients;
DROP FUNCTION grantd_notify_change();
