-- A change to the published certificate is logged as such (certificate true, no tenant), so
-- that a gateway reads the certificate again only when it changed, and the tenants not at all.
-- A change with neither a tenant nor this mark still means "read everything".
ALTER TABLE state_changes ADD COLUMN certificate BOOLEAN NOT NULL DEFAULT FALSE;
