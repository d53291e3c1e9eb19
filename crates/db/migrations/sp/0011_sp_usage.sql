-- What tenants used, per tenant, machine, gateway and hour: each gateway adds what it counted
-- since its last flush (every few seconds) in one transaction, never a write per byte or per
-- tunnel. `cloudgate sp tenant usage` sums the gateways.
CREATE TABLE tenant_usage (
    tenant      TEXT NOT NULL,
    machine     TEXT NOT NULL,
    gateway_id  TEXT NOT NULL,
    hour        TEXT NOT NULL,
    bytes_up    BIGINT NOT NULL DEFAULT 0,
    bytes_down  BIGINT NOT NULL DEFAULT 0,
    tunnels     BIGINT NOT NULL DEFAULT 0,
    tunnel_ms   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, machine, gateway_id, hour)
);
CREATE INDEX tenant_usage_hour ON tenant_usage (hour);

-- The tunnels each gateway has open now, per tenant and machine, replaced at every flush; rows of
-- a gateway that stopped flushing are stale and not counted.
CREATE TABLE open_tunnels (
    gateway_id    TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    machine       TEXT NOT NULL,
    tunnels_open  BIGINT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (gateway_id, tenant, machine)
);
