-- What the SP allows each tenant (rates and their window, tunnel counts, the lease, networks it may
-- connect from), as the JSON of cloudgate_policy::TenantPolicy; empty when nothing is limited.
-- `lease_warned` is the last lease warning audited (30, 7, 1 days; 0 at the end), so that one
-- gateway of a fleet gives each warning once.
ALTER TABLE tenants ADD COLUMN policy TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN lease_warned BIGINT;

-- Maintenance declared by the SP, per scope (`all`, `pool:NAME`, `gateway:ID`); times in seconds
-- since 1970 (UTC).
CREATE TABLE maintenance (
    scope        TEXT PRIMARY KEY,
    message      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    drain_until  BIGINT,
    ends_at      BIGINT
);
