-- SP state on PostgreSQL: the SQLite schema of the same version, with PostgreSQL's types
-- (TIMESTAMPTZ for times, BYTEA for certificates).
CREATE TABLE tenants (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE services (
    tenant     TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    target     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE client_certs (
    sha256      TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    cert_der    BYTEA NOT NULL,
    enrolled_at TIMESTAMPTZ NOT NULL,
    last_seen   TIMESTAMPTZ
);
CREATE INDEX client_certs_tenant ON client_certs (tenant);

-- A counter bumped by every change the gateways must see.
CREATE TABLE state_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO state_version (id, version) VALUES (1, 0);
