-- The timing engine's SQL half (SPEC section 8): due rows scheduled and cancelled, and
-- due_process, which decides each due row once however many daemons run (docs/decisions.md).
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- Inserts due rows (once per kind, ref, centre and instant) and wakes every daemon's engine
-- once, with the earliest new instant. The arrays are parallel; NULL arrays insert nothing.
CREATE FUNCTION due_schedule_many(p_kind text, p_refs bigint[], p_centres text[],
                                  p_due_ats timestamptz[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    earliest timestamptz;
BEGIN
    WITH ins AS (
        INSERT INTO due_events (kind, ref, centre, due_at)
        SELECT p_kind, u.ref, u.centre, u.due_at
          FROM unnest(p_refs, p_centres, p_due_ats) AS u(ref, centre, due_at)
        ON CONFLICT DO NOTHING
        RETURNING due_events.due_at
    )
    SELECT min(ins.due_at) INTO earliest FROM ins;
    IF earliest IS NOT NULL THEN
        PERFORM pg_notify('rc_due', earliest::text);
    END IF;
END $$;

CREATE FUNCTION due_schedule(p_kind text, p_ref bigint, p_centre text, p_due_at timestamptz)
RETURNS void LANGUAGE sql AS $$
    SELECT due_schedule_many(p_kind, ARRAY[p_ref], ARRAY[p_centre], ARRAY[p_due_at])
$$;

-- Removes the pending due rows of one kind for some objects (acknowledged alerts, closed
-- absences).
CREATE FUNCTION due_cancel_many(p_kind text, p_refs bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM due_events WHERE kind = p_kind AND ref = ANY (p_refs);
END $$;

CREATE FUNCTION due_cancel(p_kind text, p_ref bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT due_cancel_many(p_kind, ARRAY[p_ref])
$$;

-- Runs one due statement, p_statement with $1 = p_arg and $2 = p_now, in a savepoint of its
-- own: returns NULL when it succeeded, else its error (everything it did rolled back). Errors
-- that a retry of the whole transaction can cure (deadlock, serialisation, cancel, shutdown) are
-- raised instead, so that the daemon retries the batch. p_arg is a ref or an array of refs; the
-- statement calls a batch handler, one row handler, or a row handler for each of an array's refs
-- in their order (one savepoint for a batch of a kind that has no batch function).
CREATE FUNCTION due_try(p_statement text, p_arg anyelement, p_now timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE p_statement USING p_arg, p_now;
    RETURN NULL;
EXCEPTION
    WHEN serialization_failure OR deadlock_detected OR lock_not_available
         OR query_canceled OR admin_shutdown OR crash_shutdown OR cannot_connect_now THEN
        RAISE;
    WHEN OTHERS THEN
        RETURN SQLERRM;
END $$;

-- Decides up to p_max rows due at p_now in one transaction. The rows are claimed with
-- FOR UPDATE SKIP LOCKED and deleted at once, so each is decided once however many daemons
-- run. Each kind's rows are decided together by due_<kind>_batch(refs, now) when that exists
-- (one statement per table for a whole batch: after a restart thousands fall due at once), else
-- by due_<kind>(ref, now) for each row in one statement and savepoint. A handler that fails (a
-- bug, bad data) must not block every other due event: a failed batch is decided again one row
-- at a time, each in a savepoint, and a row that fails alone is put back postponed with backoff and logged. Errors
-- that a retry of the whole transaction can cure (deadlock, serialisation, cancel) propagate so
-- the daemon retries the batch. Handlers take a centre's alert lock when they emit its first
-- event (alert_events_emit) and hold it to commit. Within one kind's rows the centres come in
-- order, so two batches can only take them in opposite orders when a batch holds several kinds
-- and several centres: such a batch takes them all first, in centre order. Any other batch
-- takes none it does not need, so that two batches of absence notifications (which emit no
-- event) run side by side.
CREATE FUNCTION due_process(p_now timestamptz, p_max integer)
RETURNS TABLE(processed integer, next_due timestamptz) LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    claimed due_events[];
    g record;
    r due_events;
    err text;
BEGIN
    -- The claimed rows are deleted by primary key: joined to the claim in one statement, the
    -- DELETE's cached generic plan (p_max unknown) may hash the whole table; by key it is an
    -- index lookup per row whatever the plan (with a million rows pending, the lateness p99
    -- went from 4.1 to 1.8 ms, docs/performance.md).
    SELECT array_agg(p.id) INTO ids
      FROM (SELECT e.id FROM due_events e
             WHERE e.due_at <= p_now
             ORDER BY e.due_at, e.id
             LIMIT p_max
               FOR UPDATE SKIP LOCKED) p;
    WITH gone AS (
        DELETE FROM due_events d WHERE d.id = ANY (ids) RETURNING d AS ev
    )
    SELECT array_agg(gone.ev ORDER BY (gone.ev).centre NULLS FIRST, (gone.ev).due_at,
                     (gone.ev).id)
      INTO claimed FROM gone;
    processed := coalesce(cardinality(claimed), 0);
    IF (SELECT count(DISTINCT u.kind) > 1 AND count(DISTINCT u.centre) > 1
          FROM unnest(claimed) u) THEN
        PERFORM pg_advisory_xact_lock(hashtext('rollcall.alert_events'), hashtext(x.centre))
           FROM (SELECT DISTINCT u.centre FROM unnest(claimed) u
                  WHERE u.centre IS NOT NULL ORDER BY u.centre) x;
    END IF;
    FOR g IN
        SELECT u.kind, array_agg(u.ref ORDER BY u.ord) AS refs
          FROM unnest(claimed) WITH ORDINALITY
               AS u(id, kind, ref, centre, due_at, attempts, last_error, ord)
         GROUP BY u.kind
         ORDER BY min(u.ord)
    LOOP
        IF to_regprocedure(format('%I(bigint[],timestamptz)', 'due_' || g.kind || '_batch'))
           IS NOT NULL THEN
            err := due_try(format('SELECT %I($1, $2)', 'due_' || g.kind || '_batch'), g.refs,
                           p_now);
            CONTINUE WHEN err IS NULL;
            RAISE WARNING 'due batch of % % events failed, deciding them one by one: %',
                cardinality(g.refs), g.kind, err;
        ELSIF cardinality(g.refs) > 1 THEN
            err := due_try(format('SELECT count(%I(u.ref, $2)) FROM unnest($1) AS u(ref)',
                                  'due_' || g.kind), g.refs, p_now);
            CONTINUE WHEN err IS NULL;
            RAISE WARNING 'due batch of % % events failed, deciding them one by one: %',
                cardinality(g.refs), g.kind, err;
        END IF;
        FOREACH r IN ARRAY claimed LOOP
            CONTINUE WHEN r.kind <> g.kind;
            err := due_try(format('SELECT %I($1, $2)', 'due_' || r.kind), r.ref, p_now);
            CONTINUE WHEN err IS NULL;
            RAISE WARNING 'due event % (% %) failed, postponed: %', r.id, r.kind, r.ref, err;
            INSERT INTO due_events (kind, ref, centre, due_at, attempts, last_error)
            VALUES (r.kind, r.ref, r.centre,
                    p_now + make_interval(mins => least(60, 1 << least(r.attempts, 6))),
                    r.attempts + 1, left(err, 500))
            ON CONFLICT DO NOTHING; -- an identical row stands already
        END LOOP;
    END LOOP;
    SELECT min(due_at) INTO next_due FROM due_events;
    RETURN NEXT;
END $$;
