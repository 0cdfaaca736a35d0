-- The change feed: every write that verification must follow (users, service users, API keys,
-- revocations, tenants, signing keys) appends a row here, in the same transaction, by trigger,
-- and signals `jeton_changes` (delivered at commit; several signals of one transaction arrive
-- as one). Every instance on the database listens, and also polls the table, so a lost signal
-- or a reconnect cannot leave it stale. Kept equal between the SQLite and PostgreSQL folders.

CREATE TABLE changes (
    seq       BIGSERIAL PRIMARY KEY,
    entity    TEXT NOT NULL, -- user, service_user, api_keys, revocation, tenant, signing_key
    entity_id TEXT NOT NULL, -- for api_keys: the owning service user
    at_ms     BIGINT NOT NULL -- the database's clock, milliseconds since the Unix epoch
);

-- TG_ARGV[0]: the entity; TG_ARGV[1]: the column that names it.
CREATE FUNCTION jeton_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    subject TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        subject := to_jsonb(OLD) ->> TG_ARGV[1];
    ELSE
        subject := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    INSERT INTO changes (entity, entity_id, at_ms)
    VALUES (TG_ARGV[0], subject, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
    PERFORM pg_notify('jeton_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed
AFTER INSERT OR DELETE OR UPDATE OF tenant_id, username, access_level, active ON users
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('user', 'id');

CREATE TRIGGER service_users_changed
AFTER INSERT OR DELETE OR UPDATE OF tenant_id, name, access_level, scopes, active, expires_at
ON service_users
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('service_user', 'id');

CREATE TRIGGER api_keys_changed
AFTER INSERT OR DELETE OR UPDATE OF key_hash, superseded_at, grace_until, revoked_at ON api_keys
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('api_keys', 'service_user_id');

CREATE TRIGGER revocations_changed
AFTER INSERT ON revocations
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('revocation', 'token_id');

CREATE TRIGGER tenants_changed
AFTER INSERT OR DELETE OR UPDATE OF name ON tenants
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('tenant', 'id');

CREATE TRIGGER signing_keys_changed
AFTER INSERT OR DELETE OR UPDATE OF retired_at ON signing_keys
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('signing_key', 'kid');
