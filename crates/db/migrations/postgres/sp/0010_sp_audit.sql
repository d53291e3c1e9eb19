-- The audit, kept where every gateway and front end of an SP can read it: append-only, each entry
-- chained to the one before by a SHA-256 over the previous hash and its own columns, so that an
-- entry removed, edited or moved breaks the chain (`cloudgate sp audit verify`). Times are RFC 3339
-- text in UTC, exactly as hashed.
CREATE TABLE audit (
    seq      BIGINT PRIMARY KEY,
    time     TEXT NOT NULL,
    event    TEXT NOT NULL,
    actor    TEXT NOT NULL,
    message  TEXT NOT NULL,
    details  TEXT NOT NULL,
    hash     TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_event ON audit (event);
