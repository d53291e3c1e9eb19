-- SP state: tenants, the services each may reach, and their enrolled client certificates.
-- Written in the SQL that SQLite and PostgreSQL share (TEXT, BIGINT, BOOLEAN, BYTEA/BLOB aside).
CREATE TABLE tenants (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE services (
    tenant     TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    target     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE client_certs (
    sha256      TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    cert_der    BLOB NOT NULL,
    enrolled_at TEXT NOT NULL,
    last_seen   TEXT
);

-- A counter bumped by every change the gateway must see; it polls this to reload.
CREATE TABLE state_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO state_version (id, version) VALUES (1, 0);
