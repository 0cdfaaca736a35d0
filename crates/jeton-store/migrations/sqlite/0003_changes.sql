-- The change feed: every write that verification must follow (users, service users, API keys,
-- revocations, tenants, signing keys) appends a row here, in the same transaction, by trigger.
-- Every instance on the database follows the feed and reloads what changed, so a change made
-- through one instance is honoured by all. Kept equal between the SQLite and PostgreSQL folders.

CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    entity    TEXT NOT NULL, -- user, service_user, api_keys, revocation, tenant, signing_key
    entity_id TEXT NOT NULL, -- for api_keys: the owning service user
    at_ms     INTEGER NOT NULL -- the database's clock, milliseconds since the Unix epoch
);

CREATE TRIGGER users_inserted AFTER INSERT ON users BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER users_updated AFTER UPDATE OF tenant_id, username, access_level, active ON users
BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER users_deleted AFTER DELETE ON users BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('user', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER service_users_inserted AFTER INSERT ON service_users BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('service_user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER service_users_updated
AFTER UPDATE OF tenant_id, name, access_level, scopes, active, expires_at ON service_users
BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('service_user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER service_users_deleted AFTER DELETE ON service_users BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('service_user', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('api_keys', NEW.service_user_id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER api_keys_updated
AFTER UPDATE OF key_hash, superseded_at, grace_until, revoked_at ON api_keys BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('api_keys', NEW.service_user_id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('api_keys', OLD.service_user_id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER revocations_inserted AFTER INSERT ON revocations BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('revocation', NEW.token_id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER tenants_inserted AFTER INSERT ON tenants BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('tenant', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER tenants_updated AFTER UPDATE OF name ON tenants BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('tenant', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER tenants_deleted AFTER DELETE ON tenants BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('tenant', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER signing_keys_inserted AFTER INSERT ON signing_keys BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('signing_key', NEW.kid, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER signing_keys_updated AFTER UPDATE OF retired_at ON signing_keys BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('signing_key', NEW.kid, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER signing_keys_deleted AFTER DELETE ON signing_keys BEGIN
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES ('signing_key', OLD.kid, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
