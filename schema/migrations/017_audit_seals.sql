-- Issue 16: audit seals in their own narrow table. The sealer used to UPDATE every audit row once
-- to set its seal and hash, rewriting the whole row (detail included) with its index entries;
-- it now INSERTs (seal, audit_id, hash) into audit_seals, and audit is never updated at all.
-- Finding the unsealed rows: audit_seal_state.watermark W says every audit row with id <= W that
-- will ever commit is sealed, so the sealer looks only at id > W (docs/DESIGN.md, "The audit
-- chain"). Plain SQL only: the code layer is dropped while migrations run.

-- No writer may be in flight while W is computed: each of them would hold a lock on audit.
LOCK TABLE audit IN ACCESS EXCLUSIVE MODE;

-- No foreign key to audit: audit rows can never be deleted (the code layer's trigger), an RI
-- check would cost a trigger call per sealed row, and rollcalld --verify-audit names a seal row
-- whose audit row is gone.
CREATE TABLE audit_seals (
    seal bigint PRIMARY KEY CHECK (seal > 0),
    audit_id bigint NOT NULL UNIQUE,
    hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

INSERT INTO audit_seals (seal, audit_id, hash)
SELECT a.seal, a.id, a.hash FROM audit a WHERE a.seal IS NOT NULL ORDER BY a.seal;

-- One row. pending_upto and pending_vxids: the audit id sequence's last value the sealer saw,
-- and the transactions holding a lock on audit then; once none of those is running, every row
-- with id <= pending_upto has committed or never will, and W may move up to it.
CREATE TABLE audit_seal_state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    watermark bigint NOT NULL CHECK (watermark >= 0),
    pending_upto bigint,
    pending_vxids text[] NOT NULL DEFAULT '{}'
);

-- Nobody else holds audit now, so every drawn id has committed or rolled back: W is just below
-- the lowest unsealed row (or the highest id when all are sealed).
INSERT INTO audit_seal_state (watermark)
SELECT coalesce((SELECT min(a.id) - 1 FROM audit a WHERE a.seal IS NULL),
                (SELECT max(a.id) FROM audit a), 0);

DROP INDEX audit_unsealed;
ALTER TABLE audit DROP CONSTRAINT audit_seal_hash_together;
ALTER TABLE audit DROP CONSTRAINT audit_seal_unique;
ALTER TABLE audit DROP COLUMN seal;
ALTER TABLE audit DROP COLUMN hash;
