-- The gateway fleet: every running gateway records itself and heartbeats; tenants belong to a
-- pool of gateways; failed enrollments are counted by all gateways together (as in SQLite's
-- 0005, with TIMESTAMPTZ times).
ALTER TABLE tenants ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tenants ADD COLUMN failover_outside_pool BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE gateways (
    id             TEXT PRIMARY KEY,
    public_address TEXT NOT NULL,
    pool           TEXT NOT NULL,
    version        TEXT NOT NULL,
    cert_sha256    TEXT NOT NULL,
    open_tunnels   BIGINT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    heartbeat_at   TIMESTAMPTZ NOT NULL,
    stopped_at     TIMESTAMPTZ
);

CREATE TABLE enroll_failures (
    source       TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL
);
CREATE INDEX enroll_failures_window ON enroll_failures (window_start);
