-- The audit chain (SPEC section 7, v2): the canonical serialisation of an audit row, the sealer
-- that chains committed rows in seal order, and the trigger exception that lets it. The design
-- and the serialisation, precisely enough to verify without this code, are in docs/DESIGN.md
-- ("The audit chain"); rollcalld --verify-audit (daemon/audit_verify.c) recomputes it in C.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- The bytes a row's hash covers after the previous hash: each field in order as 'N' (NULL) or
-- 'S' <decimal byte length> ':' <UTF-8 bytes>. Fields: seal, id, at (UTC,
-- YYYY-MM-DDTHH:MM:SS.uuuuuuZ), cn, role, action, resident, request_id, remote, outcome, detail
-- (PostgreSQL's jsonb text). Length prefixes make the encoding unambiguous whatever a field holds.
CREATE FUNCTION audit_canonical(p_seal bigint, p_a audit) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    -- One expression (audit_field is inlined into it), planned once per session: the sealer
    -- calls this for every audit row, and a SQL function with a FROM would be planned again
    -- on every call (docs/performance.md).
    RETURN convert_to(
        audit_field(p_seal::text) || audit_field((p_a).id::text)
        || audit_field(to_char((p_a).at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || audit_field((p_a).cn) || audit_field((p_a).role) || audit_field((p_a).action)
        || audit_field((p_a).resident::text) || audit_field((p_a).request_id)
        || audit_field((p_a).remote) || audit_field((p_a).outcome)
        || audit_field((p_a).detail::text),
        'UTF8');
END $$;

-- One field of audit_canonical: 'N' for NULL, else 'S' <decimal byte length> ':' <the text>.
CREATE FUNCTION audit_field(p_v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_v IS NULL THEN 'N' ELSE 'S' || octet_length(p_v)::text || ':' || p_v END
$$;

-- Seals up to p_max committed unsealed rows, oldest id first, continuing the chain from the
-- highest seal; returns how many, and the chain's head after it (the daemon logs the head, so
-- that its log anchors the chain: whoever rewrites the table can recompute every hash, but not
-- the heads already written elsewhere). sealed is 0 also when another sealer holds the lock:
-- it is doing the work. One sealer at a time, by a transaction-level advisory lock; it sees
-- only committed rows, so a row that commits after a later id was sealed is simply sealed
-- later, with a higher seal number: the chain is in seal order, not id order. Each seal is a
-- row of audit_seals (seal, audit_id, hash): audit itself is never updated. No row is sealed
-- twice: the lock, and audit_seals' UNIQUE audit_id and PRIMARY KEY seal.
--
-- Which rows to look at: audit_seal_state.watermark W promises that every audit row with
-- id <= W that will ever commit is sealed, so the candidates are id > W, a short range of the
-- primary key anti-joined with audit_seals' audit_id index. W moves in two steps, one run
-- apart: a run records the id sequence's last value L and the transactions then holding a lock
-- on audit (every writer takes its lock on audit before it draws an id, and keeps it until it
-- ends); a later run that finds none of them running knows every row with id <= L has
-- committed (and is visible to its next statement's snapshot) or never will, and once it has
-- sealed all of those it sets W = L. A long transaction holds W back, never sealing: the rows
-- above W are sealed as they commit. This relies on the sequence's cache being 1 (identity's
-- default): a backend with cached ids could draw one below L later without a lock at L's time.
CREATE FUNCTION audit_seal(p_max integer)
RETURNS TABLE(sealed integer, head_seal bigint, head_hash text)
LANGUAGE plpgsql
-- Planned for the watermark at hand each time: a generic plan, costed for "id > $1" as a third
-- of the table and cheaper than the backlog's custom plans, turned out a hash anti-join over all
-- of audit_seals (docs/performance.md, "Seals in their own table").
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    seal_ bigint;
    hash_ bytea;
    row_ audit;
    count_ integer := 0;
    last_id bigint;
    state_ audit_seal_state;
    watermark_ bigint;
    settled boolean;
    upto bigint;
    vxids text[];
    ids bigint[] := '{}';
    seals bigint[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('rollcall.audit_seal')) THEN
        RETURN QUERY SELECT 0, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO STRICT state_ FROM audit_seal_state;
    watermark_ := state_.watermark;
    -- Have the writers recorded last time all ended? Only under READ COMMITTED does the
    -- candidates' query below take its snapshot after this check, so that it sees their rows.
    settled := state_.pending_upto IS NOT NULL
               AND current_setting('transaction_isolation') = 'read committed';
    IF settled AND cardinality(state_.pending_vxids) > 0 THEN
        settled := NOT EXISTS (SELECT 1 FROM pg_locks l
                                WHERE l.virtualtransaction = ANY (state_.pending_vxids));
    END IF;
    SELECT s.seal, s.hash INTO seal_, hash_ FROM audit_seals s ORDER BY s.seal DESC LIMIT 1;
    seal_ := coalesce(seal_, 0);
    hash_ := coalesce(hash_, ''::bytea);
    -- The hashes are a chain, so they are computed one after the other; the seals are then
    -- written in one statement.
    FOR row_ IN SELECT a.* FROM audit a
                 WHERE a.id > watermark_
                   AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_id = a.id)
                 ORDER BY a.id LIMIT p_max LOOP
        seal_ := seal_ + 1;
        hash_ := sha256(hash_ || audit_canonical(seal_, row_));
        ids := ids || row_.id;
        seals := seals || seal_;
        hashes := hashes || hash_;
        count_ := count_ + 1;
        last_id := row_.id;
    END LOOP;
    PERFORM set_config('rollcall.audit_sealing', 'on', true);
    IF count_ > 0 THEN
        INSERT INTO audit_seals (seal, audit_id, hash)
        SELECT u.seal, u.audit_id, u.hash FROM unnest(seals, ids, hashes) AS u(seal, audit_id, hash);
    END IF;
    IF settled OR state_.pending_upto IS NULL THEN
        IF settled THEN
            -- Every row up to pending_upto is visible now; a full batch may have stopped short.
            watermark_ := greatest(watermark_,
                                   CASE WHEN count_ < p_max THEN state_.pending_upto
                                        ELSE least(state_.pending_upto, last_id) END);
        END IF;
        -- The sequence first, then the lock holders: a writer that drew an id <= upto holds
        -- its lock on audit by then, or has ended.
        upto := coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit', 'id')::regclass),
                         0);
        vxids := '{}';
        -- No id drawn since the watermark (caught up and idle): nobody to wait for.
        IF upto > watermark_ THEN
            SELECT coalesce(array_agg(DISTINCT l.virtualtransaction), '{}') INTO vxids
              FROM pg_locks l
             WHERE l.locktype = 'relation'
               AND l.database = (SELECT d.oid FROM pg_database d
                                  WHERE d.datname = current_database())
               AND l.relation = 'audit'::regclass AND l.pid IS DISTINCT FROM pg_backend_pid();
        END IF;
        IF (watermark_, upto, vxids) IS DISTINCT FROM
           (state_.watermark, state_.pending_upto, state_.pending_vxids) THEN
            UPDATE audit_seal_state
               SET watermark = watermark_, pending_upto = upto, pending_vxids = vxids;
        END IF;
    END IF;
    PERFORM set_config('rollcall.audit_sealing', 'off', true);
    RETURN QUERY SELECT count_, nullif(seal_, 0), nullif(encode(hash_, 'hex'), '');
END $$;

-- audit_seals and audit_seal_state change only inside audit_seal (which sets
-- rollcall.audit_sealing for its transaction), and only by INSERT into audit_seals: a seal is
-- never updated or deleted. Statement-level for INSERT and UPDATE, so that sealing a batch
-- costs one trigger call, not one a row.
CREATE FUNCTION audit_seals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'audit_seals' AND TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'audit seals are append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND current_setting('rollcall.audit_sealing', true) IS NOT DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is written by the audit sealer only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_seals_insert BEFORE INSERT ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_seals_guard();
CREATE TRIGGER audit_seals_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_seals_guard();
CREATE TRIGGER audit_seal_state_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON audit_seal_state FOR EACH STATEMENT EXECUTE FUNCTION audit_seals_guard();
