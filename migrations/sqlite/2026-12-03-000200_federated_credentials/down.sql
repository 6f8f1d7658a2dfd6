ALTER TABLE sessions DROP COLUMN federated_subject;
ALTER TABLE sessions DROP COLUMN federated_issuer;
ALTER TABLE sessions DROP COLUMN auth_method;
DROP TABLE federated_credentials;
