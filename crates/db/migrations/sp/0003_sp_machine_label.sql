-- A label for each enrolled machine: the host name the tenant sent at enrollment, so the SP can
-- tell its machines apart (and prune the stale ones) without decoding certificates.
ALTER TABLE client_certs ADD COLUMN label TEXT;
