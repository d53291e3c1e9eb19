-- The console's administrators and the API tokens scripts use. Passwords are argon2id PHC
-- strings and token secrets SHA-256: neither is ever kept in clear.
CREATE TABLE admins (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);
-- What the gateways relayed, as each reported in its last heartbeat (for the console's chart).
ALTER TABLE gateways ADD COLUMN relayed_bytes BIGINT NOT NULL DEFAULT 0;
