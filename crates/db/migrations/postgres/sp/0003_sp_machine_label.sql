-- A label for each enrolled machine: the host name the tenant sent at enrollment.
ALTER TABLE client_certs ADD COLUMN label TEXT;
