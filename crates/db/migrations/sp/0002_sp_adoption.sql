-- Adoption: which SP certificate each enrolled machine last confirmed it trusts, and whether it
-- has learned the staged successor, so the SP knows when a switch is safe.
ALTER TABLE client_certs ADD COLUMN confirmed_sha256 TEXT;
ALTER TABLE client_certs ADD COLUMN successor_sha256 TEXT;
ALTER TABLE client_certs ADD COLUMN confirmed_at TEXT;
