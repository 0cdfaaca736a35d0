-- Jeton's initial schema (PostgreSQL). Kept line for line equal to ../sqlite/0001_init.sql except
-- where the dialects differ: BYTEA vs BLOB, BIGSERIAL vs INTEGER PRIMARY KEY AUTOINCREMENT.
-- Ids are UUID strings, times Unix seconds.

-- Server-wide values, such as the key-hashing secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT,
    access_level   TEXT NOT NULL,
    active         BOOLEAN NOT NULL,
    token_max_secs BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX users_tenant_username ON users (tenant_id, username);

CREATE TABLE roles (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    token_max_secs BIGINT,
    created_at     BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE role_members (
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, user_id)
);
CREATE INDEX role_members_user ON role_members (user_id);

-- Token metadata; the token value itself is never stored. `created_by` and `revoked_by` are
-- history, not references: they keep the id of an administrator who was deleted since.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    comment      TEXT NOT NULL,
    scopes       TEXT NOT NULL, -- space-separated; empty when not narrowed
    created_at   BIGINT NOT NULL,
    created_by   TEXT,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX tokens_user_id ON tokens (user_id, id);
CREATE INDEX tokens_tenant_id ON tokens (tenant_id, id);
CREATE INDEX tokens_user_name ON tokens (user_id, name);

-- Revoked or deleted tokens that have not expired yet; no reference to `tokens`, since a deleted
-- token's revocation outlives its record.
CREATE TABLE revocations (
    token_id   TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    public_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- Append-only. No references: events outlive the tenants and users they mention.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    tenant_id   TEXT,
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    target_name TEXT,
    outcome     TEXT NOT NULL,
    client_addr TEXT,
    details     TEXT NOT NULL -- a JSON object
);
CREATE INDEX audit_events_tenant_id ON audit_events (tenant_id, id);
