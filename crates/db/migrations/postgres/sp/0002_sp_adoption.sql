-- Adoption: which SP certificate each enrolled machine last confirmed it trusts.
ALTER TABLE client_certs ADD COLUMN confirmed_sha256 TEXT;
ALTER TABLE client_certs ADD COLUMN successor_sha256 TEXT;
ALTER TABLE client_certs ADD COLUMN confirmed_at TIMESTAMPTZ;
