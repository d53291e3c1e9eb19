-- The certificate every gateway of a fleet serves, as the SP's certificate commands publish it:
-- the certificate, its chain, the rollover record tenants are shown, and the private key only
-- sealed under the fleet key (AES-256-GCM), never in the clear. (BYTEA, TIMESTAMPTZ.)
CREATE TABLE fleet_certificate (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    sha256        TEXT NOT NULL,
    cert_der      BYTEA NOT NULL,
    chain_pem     TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    rollover      TEXT NOT NULL,
    sealed_keys   TEXT NOT NULL,
    published_at  TIMESTAMPTZ NOT NULL
);
