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
-- later, with a higher seal number: the chain is in seal order, not id order, and no row is
-- sealed twice (the lock, seal IS NULL re-checked under the row lock, the UNIQUE seal).
CREATE FUNCTION audit_seal(p_max integer)
RETURNS TABLE(sealed integer, head_seal bigint, head_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    seal_ bigint;
    hash_ bytea;
    row_ audit;
    count_ integer := 0;
    updated_ integer;
    ids bigint[] := '{}';
    seals bigint[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('rollcall.audit_seal')) THEN
        RETURN QUERY SELECT 0, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    SELECT a.seal, a.hash INTO seal_, hash_
      FROM audit a WHERE a.seal IS NOT NULL ORDER BY a.seal DESC LIMIT 1;
    seal_ := coalesce(seal_, 0);
    hash_ := coalesce(hash_, ''::bytea);
    PERFORM set_config('rollcall.audit_sealing', 'on', true);
    -- The hashes are a chain, so they are computed one after the other; the rows are then
    -- written in one statement (an UPDATE per row cost more than the hashing).
    FOR row_ IN SELECT * FROM audit a WHERE a.seal IS NULL ORDER BY a.id LIMIT p_max LOOP
        seal_ := seal_ + 1;
        hash_ := sha256(hash_ || audit_canonical(seal_, row_));
        ids := ids || row_.id;
        seals := seals || seal_;
        hashes := hashes || hash_;
        count_ := count_ + 1;
    END LOOP;
    -- The advisory lock keeps other sealers out; seal IS NULL is re-checked under the row lock
    -- this UPDATE takes, and a row found sealed meanwhile undoes the whole batch.
    UPDATE audit a SET seal = u.seal, hash = u.hash
      FROM unnest(ids, seals, hashes) AS u(id, seal, hash)
     WHERE a.id = u.id AND a.seal IS NULL;
    GET DIAGNOSTICS updated_ = ROW_COUNT;
    IF updated_ <> count_ THEN
        RAISE EXCEPTION 'audit_seal: % of % rows were sealed by someone else', count_ - updated_,
                        count_;
    END IF;
    PERFORM set_config('rollcall.audit_sealing', 'off', true);
    RETURN QUERY SELECT count_, nullif(seal_, 0), nullif(encode(hash_, 'hex'), '');
END $$;
