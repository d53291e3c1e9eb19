-- The tenant's trust state per provider: the chain links learned from the provider (verified
-- from the pinned key), and whether the provider marked the pinned key compromised. The single
-- successor column of 0102 is replaced by the chain.
ALTER TABLE providers ADD COLUMN learned_chain TEXT NOT NULL DEFAULT '[]';
ALTER TABLE providers ADD COLUMN compromised BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE providers DROP COLUMN successor_der;
