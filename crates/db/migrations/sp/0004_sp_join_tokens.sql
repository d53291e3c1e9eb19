-- Join tokens: one-time (or few-time) enrollment credentials the SP hands a tenant instead of a
-- password. Only the SHA-256 of the secret is kept.
CREATE TABLE join_tokens (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    secret_sha256 TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    uses_left     BIGINT NOT NULL,
    revoked_at    TEXT
);
