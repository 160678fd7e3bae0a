-- Release 2: the tamper-evident audit log (SPEC section 7, v2). Requests keep inserting audit rows
-- unchained, side by side; the sealer (audit_seal in schema/code/audit_chain.sql, run by one
-- daemon at a time) later gives each committed row the next seal number and its hash, SHA-256
-- over the previous sealed row's hash and the row's canonical serialisation (docs/DESIGN.md,
-- "The audit chain"). Rows of an upgraded database start unsealed and are sealed the same way.
ALTER TABLE audit ADD COLUMN seal bigint;
ALTER TABLE audit ADD COLUMN hash bytea;
ALTER TABLE audit ADD CONSTRAINT audit_seal_unique UNIQUE (seal);
ALTER TABLE audit ADD CONSTRAINT audit_seal_hash_together
    CHECK ((seal IS NULL) = (hash IS NULL) AND (seal IS NULL OR seal > 0));

-- The sealer looks for unsealed rows in id order: a small partial index, empty when caught up.
CREATE INDEX audit_unsealed ON audit (id) WHERE seal IS NULL;
