-- The provider's gateways, as its gateways last told this machine (JSON: address, pool, load),
-- least loaded first: `check` and `tunnel` connect to them and fail over among them.
ALTER TABLE providers ADD COLUMN gateways TEXT NOT NULL DEFAULT '[]';
