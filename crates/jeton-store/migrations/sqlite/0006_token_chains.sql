-- Token exchange chains (RFC 8693): which token each exchanged token was issued for. Revoking a
-- token revokes every token exchanged from it, transitively, by following `parent_id`; the
-- revocations themselves go to `revocations` (and so to the change feed). Rows are kept until
-- the child token expires. Kept equal between the SQLite and PostgreSQL folders.

CREATE TABLE token_links (
    token_id   TEXT PRIMARY KEY,   -- the exchanged (child) token's jti
    parent_id  TEXT NOT NULL,      -- the subject token it was exchanged for
    root_id    TEXT NOT NULL,      -- the first token of the chain
    tenant_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX token_links_parent_id ON token_links (parent_id);
CREATE INDEX token_links_expires_at ON token_links (expires_at);
