-- Tenant state: the service providers this machine added, each with the pinned SP certificate and
-- this tenant's own client certificate (its key is a file beside the database, owner-only).
CREATE TABLE providers (
    name            TEXT PRIMARY KEY,
    address         TEXT NOT NULL,
    port            INTEGER NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    trust           TEXT NOT NULL DEFAULT 'pinned',
    cert_der        BLOB NOT NULL,
    thumbprint      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    spki_sha256     TEXT NOT NULL,
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    username        TEXT NOT NULL,
    client_cert_der BLOB NOT NULL,
    services        TEXT NOT NULL DEFAULT ''
);
