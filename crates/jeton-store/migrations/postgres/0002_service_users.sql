-- Service users (programmatic identities of a tenant) and their API keys. Kept equal between
-- the SQLite and PostgreSQL folders.

CREATE TABLE service_users (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    access_level TEXT NOT NULL,
    scopes       TEXT NOT NULL, -- space-separated scopes it may be given; empty: not narrowed
    active       BOOLEAN NOT NULL,
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT,
    updated_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    UNIQUE (tenant_id, name)
);

-- API keys, stored only as a keyed hash (HMAC-SHA-256 under the server's secret, hex). A key is
-- current while `superseded_at` is NULL; a superseded key works until `grace_until` unless
-- `revoked_at` is set. Superseded keys are kept so that their use is recognised and audited.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    service_user_id TEXT NOT NULL REFERENCES service_users (id) ON DELETE CASCADE,
    key_hash        TEXT NOT NULL UNIQUE,
    hint            TEXT NOT NULL, -- the prefix and first characters, to tell keys apart
    created_at      BIGINT NOT NULL,
    created_by      TEXT,
    superseded_at   BIGINT,
    grace_until     BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX api_keys_service_user ON api_keys (service_user_id);
