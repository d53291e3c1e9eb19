-- Join tokens: one-time (or few-time) enrollment credentials; only the SHA-256 of the secret.
CREATE TABLE join_tokens (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    secret_sha256 TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    uses_left     BIGINT NOT NULL,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX join_tokens_tenant ON join_tokens (tenant);
