-- Signing keys can be withdrawn: `revoked_at` when an operator revokes a leaked key, and
-- `expired_at` when an instance first sees that no token the key signed can still be live. Both
-- are facts recorded once: a key with either set never verifies again, whatever the clock does
-- afterwards. Their changes travel the change feed like a rotation does, so every instance
-- drops the key within a second.
--
-- From this version on `private_key` holds the key sealed under the master key (see
-- jeton-server's `master_key` module). A database from before keeps its clear keys until the
-- first start with a master key, which seals them (and the API-key hashing secret in
-- `settings`) in one transaction. Kept equal between the SQLite and PostgreSQL folders.

ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN expired_at BIGINT;

DROP TRIGGER signing_keys_changed ON signing_keys;
CREATE TRIGGER signing_keys_changed
AFTER INSERT OR DELETE OR UPDATE OF retired_at, revoked_at, expired_at ON signing_keys
FOR EACH ROW EXECUTE FUNCTION jeton_record_change('signing_key', 'kid');
