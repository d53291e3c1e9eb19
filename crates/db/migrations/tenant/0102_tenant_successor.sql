-- The successor certificate a provider announced with a rollover proof that verified against the
-- pinned key; accepted without asking once the provider presents it.
ALTER TABLE providers ADD COLUMN successor_der BLOB;
