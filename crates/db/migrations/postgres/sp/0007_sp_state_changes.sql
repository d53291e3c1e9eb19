-- Which tenant each change touched (NULL: more than tenants), by the change counter's version,
-- so that a gateway reads again only the tenants changed since the state it holds. The last
-- 10,000 changes are kept; a gateway further behind reads the whole state.
CREATE TABLE state_changes (
    version BIGINT PRIMARY KEY,
    tenant  TEXT
);
