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
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(string_agg(CASE WHEN f.v IS NULL THEN 'N'
                                      ELSE 'S' || octet_length(f.v) || ':' || f.v END,
                                 '' ORDER BY f.n), 'UTF8')
    FROM unnest(ARRAY[p_seal::text, (p_a).id::text,
                      to_char((p_a).at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                      (p_a).cn, (p_a).role, (p_a).action, (p_a).resident::text,
                      (p_a).request_id, (p_a).remote, (p_a).outcome, (p_a).detail::text])
         WITH ORDINALITY AS f(v, n)
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
    FOR row_ IN SELECT * FROM audit a WHERE a.seal IS NULL ORDER BY a.id LIMIT p_max
                FOR UPDATE LOOP
        seal_ := seal_ + 1;
        hash_ := sha256(hash_ || audit_canonical(seal_, row_));
        UPDATE audit SET seal = seal_, hash = hash_ WHERE id = row_.id;
        count_ := count_ + 1;
    END LOOP;
    PERFORM set_config('rollcall.audit_sealing', 'off', true);
    RETURN QUERY SELECT count_, nullif(seal_, 0), nullif(encode(hash_, 'hex'), '');
END $$;
