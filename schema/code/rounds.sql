-- Attendance rounds (SPEC section 2): the round operations, and the rounds' completion deadlines
-- that the timing engine turns into round_overdue alerts.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- When round `slot` (1..3) of a centre's local `date` is scheduled; NULL for an unknown centre
-- or slot. Everything that needs a round's instant calls this rather than repeating it.
CREATE FUNCTION round_scheduled_at(p_centre text, p_date date, p_slot int) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL rather than SQL here and in the round helpers below: a SQL function called from
    -- a PL/pgSQL expression is planned again on every call, a PL/pgSQL one keeps its plans for
    -- the session (docs/performance.md).
    IF p_slot IS NULL OR p_slot NOT BETWEEN 1 AND 3 THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT local_instant(p_date + c.check_times[p_slot], c.timezone)
            FROM centres c WHERE c.id = p_centre);
END $$;

-- When the round is due: scheduled instant plus the centre's grace period.
CREATE FUNCTION round_due_at(p_centre text, p_date date, p_slot int) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT round_scheduled_at(p_centre, p_date, p_slot)
                   + make_interval(mins => c.grace_minutes)
            FROM centres c WHERE c.id = p_centre);
END $$;

-- The residents expected in every round of a centre's date: a stay there covering the date
-- (arrival day included, departure day excluded).
CREATE FUNCTION round_expected(p_centre text, p_date date) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT DISTINCT s.resident FROM stays s
    WHERE s.centre = p_centre AND s.from_date <= p_date
      AND p_date < coalesce(s.to_date, 'infinity'::date)
    ORDER BY 1;
END $$;

-- The round object of SPEC section 10: complete once every expected resident has a current
-- observation (a round nobody is expected in is complete), overdue when not complete at its
-- due instant, open otherwise. p_expected: the round's expected residents when the caller
-- already has them (round_expected), so they are not looked up twice.
CREATE FUNCTION round_json(p_centre text, p_date date, p_slot int, p_now timestamptz,
                           p_expected bigint[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    expected bigint[] := coalesce(p_expected, ARRAY(SELECT round_expected(p_centre, p_date)));
    n_expected bigint := cardinality(expected);
    n_recorded bigint;
    due timestamptz := round_due_at(p_centre, p_date, p_slot);
BEGIN
    -- The one-current-row index holds at most one row per resident: counting the expected
    -- residents' current rows is one range scan of it.
    SELECT count(*) INTO n_recorded
      FROM observations o
     WHERE o.centre = p_centre AND o.date = p_date AND o.slot = p_slot AND o.current
       AND o.resident = ANY (expected);
    RETURN jsonb_build_object(
        'centre', p_centre,
        'date', p_date,
        'slot', p_slot,
        'scheduled_at', round_scheduled_at(p_centre, p_date, p_slot),
        'due_at', due,
        'status', CASE WHEN n_recorded = n_expected THEN 'complete'
                       WHEN p_now >= due THEN 'overdue'
                       ELSE 'open' END,
        'expected', n_expected,
        'recorded', n_recorded);
END $$;

-- The round with each expected resident and their current observation (and, with_history,
-- every observation of them in the round, oldest first), residents by family and given name.
CREATE FUNCTION round_detail_json(p_centre text, p_date date, p_slot int, p_now timestamptz,
                                  p_with_history boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT round_json($1, $2, $3, $4) || jsonb_build_object('residents', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'resident', r.id,
                   'case_number', r.case_number,
                   'given_name', r.given_name,
                   'family_name', r.family_name,
                   'observation', (
                       SELECT jsonb_build_object('status', o.status, 'reason', o.reason,
                                                 'note', o.note, 'observed_at', o.observed_at,
                                                 'recorded_at', o.recorded_at,
                                                 'recorded_by', o.recorded_by)
                       FROM observations o
                       WHERE o.centre = $1 AND o.date = $2 AND o.slot = $3
                         AND o.resident = r.id AND o.current))
               || CASE WHEN $5 THEN jsonb_build_object('history', (
                       SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'status', o.status, 'reason', o.reason, 'note', o.note,
                                  'observed_at', o.observed_at, 'recorded_at', o.recorded_at,
                                  'recorded_by', o.recorded_by, 'current', o.current)
                                  ORDER BY o.id), '[]'::jsonb)
                       FROM observations o
                       WHERE o.centre = $1 AND o.date = $2 AND o.slot = $3
                         AND o.resident = r.id))
                       ELSE '{}'::jsonb END
               ORDER BY r.family_name, r.given_name, r.id)
        FROM round_expected($1, $2) AS e(id) JOIN residents r ON r.id = e.id), '[]'::jsonb))
$$;

-- The round a path names: the centre (scope-checked), the date and the slot.
CREATE FUNCTION round_path(ctx jsonb, args jsonb, OUT centre centres, OUT round_date date,
                           OUT slot int)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    centre := require_centre(ctx, args->'path'->>'id');
    round_date := arg_date(args->'path'->>'date', 'date');
    slot := arg_int(args->'path'->>'slot', 'slot', 1, 3);
END $$;

-- GET /v1/centres/{id}/rounds?date=DATE: the three rounds of the date (default: the centre's
-- local today), as a list.
CREATE FUNCTION op_round_list(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c centres := require_centre(ctx, args->'path'->>'id');
    on_date date := coalesce(arg_date(args->'query'->>'date', 'date'),
                             centre_local_date(c.id, ctx_now(ctx)));
BEGIN
    RETURN QUERY
    SELECT 200, jsonb_build_object(
        'items', (SELECT jsonb_agg(round_json(c.id, on_date, s, ctx_now(ctx)) ORDER BY s)
                  FROM generate_series(1, 3) AS s),
        'next', NULL);
END $$;

-- GET /v1/centres/{id}/rounds/{date}/{slot}[?history=true]
CREATE FUNCTION op_round_get(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    rp record := round_path(ctx, args);
    with_history boolean := coalesce(args->'query'->>'history', 'false') = 'true';
BEGIN
    PERFORM audit_many(ctx, 'round_get',
                       ARRAY(SELECT round_expected((rp.centre).id, rp.round_date)));
    RETURN QUERY SELECT 200, round_detail_json((rp.centre).id, rp.round_date, rp.slot, ctx_now(ctx),
                                               with_history);
END $$;

-- POST .../rounds/{date}/{slot}?dry_run=true: the round is recorded inside a subtransaction
-- that is then rolled back, so the answer is exactly what sending it would do (the same checks
-- and refusals, the same rules) and nothing of it stays: no observation, absence, alert, due
-- event, outbox row or NOTIFY (discarded with the subtransaction), no audit row of a change,
-- and no idempotency row (api() claims none for a dry run). Only the read is audited. Ids that
-- sequences handed out inside are skipped. notify_now: the authorities would be told the moment
-- the round is sent (the round notified them inside), or at its instant (a round sent early
-- whose threshold falls before the round's instant).
CREATE FUNCTION round_dry_run(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    rp record := round_path(ctx, args);
    round_at timestamptz := round_scheduled_at((rp.centre).id, rp.round_date, rp.slot);
    last_id bigint := coalesce((SELECT max(a.id) FROM absences a), 0);
    reply jsonb;
    opened jsonb;
BEGIN
    BEGIN
        SELECT r.body INTO reply FROM op_round_post(ctx, args #- '{query,dry_run}') AS r;
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'resident', a.resident, 'since', a.since, 'notify_at', a.notify_at,
                   'reason', a.reason,
                   'notify_now', a.notified_at IS NOT NULL OR a.notify_at <= round_at)
                   ORDER BY a.resident), '[]')
          INTO opened
          FROM absences a
         WHERE a.id > last_id AND a.opened_by = ctx->>'cn' AND a.opened_round_at = round_at
           AND a.centre = (rp.centre).id;
        RAISE EXCEPTION USING ERRCODE = 'RCDRY', MESSAGE = 'dry run: rolled back';
    EXCEPTION WHEN SQLSTATE 'RCDRY' THEN
        NULL; -- everything since BEGIN is undone; reply and opened are kept
    END;
    PERFORM audit_many(ctx, 'round_dry_run',
                       ARRAY(SELECT (e->>'resident')::bigint
                             FROM jsonb_array_elements(args->'body'->'observations') AS e));
    RETURN QUERY SELECT 200, reply || jsonb_build_object('dry_run', true, 'absences', opened);
END $$;

-- POST /v1/centres/{id}/rounds/{date}/{slot} {"observations":[{"resident","status","reason",
-- "note","observed_at"}]}: all or nothing. Every element is checked before anything is written.
-- observed_at (SPEC section 2, v2) defaults to the request's instant; one given may be neither
-- in the future nor before the round's scheduled instant minus its grace period. The current
-- observation of a resident in the round is the one observed last (ties: recorded last): an
-- observation observed after (or when) the current one replaces it (the old row stays,
-- current = false) and the absence rules see it; one observed before it is stored as history
-- and changes nothing else. A round more than two hours before its scheduled instant cannot
-- be recorded yet (409 round_not_started).
CREATE FUNCTION op_round_post(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql
-- Its statements' plans do not depend on the values: with the default (auto) PostgreSQL judged
-- the generic plans of the array queries dearer than a custom one and planned them again on
-- every request, a third of a correction's cost (docs/performance.md).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    rp record := round_path(ctx, args);
    centre_id text := (rp.centre).id;
    round_at timestamptz := round_scheduled_at((rp.centre).id, rp.round_date, rp.slot);
    items jsonb := args->'body'->'observations';
    expected bigint[];
    element jsonb;
    position bigint;
    field text;
    resident_id bigint;
    obs_status text;
    obs_reason text;
    obs_at timestamptz;
    earliest timestamptz := round_at - make_interval(mins => (rp.centre).grace_minutes);
    seen bigint[] := '{}';
    observed timestamptz[] := '{}';
    winners bigint[];
    open_ bigint[];
    new_ids bigint[];
BEGIN
    IF args->'query'->>'dry_run' = 'true' THEN
        RETURN QUERY SELECT * FROM round_dry_run(ctx, args);
        RETURN;
    END IF;
    IF items IS NULL OR jsonb_typeof(items) <> 'array' OR jsonb_array_length(items) = 0 THEN
        PERFORM fail(400, 'bad_field', 'observations must be a non-empty array', 'observations');
    END IF;
    -- First the form of every element (400), then the round's time (409), then whether each
    -- resident belongs in the round (422): the first problem found is the one answered.
    -- The common case is checked set-based first: every element well formed, no observed_at,
    -- no resident twice. Only a request this does not clear goes through the loop, which
    -- names the first problem (or accepts what the quick check leaves to it, observed_at).
    IF NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(items) AS t(e)
            WHERE NOT coalesce(
                      jsonb_typeof(e) = 'object'
                  AND jsonb_typeof(e->'resident') IN ('number', 'string')
                  AND (e->>'resident') ~ '^[0-9]{1,18}$' AND (e->>'resident') !~ '^0+$'
                  AND jsonb_typeof(e->'status') = 'string'
                  AND CASE WHEN e->>'status' = 'excused'
                           THEN e->>'reason' IN ('leave', 'hospital', 'school_trip',
                                                 'authority_meeting', 'other')
                           ELSE e->>'status' IN ('present', 'absent') AND e->>'reason' IS NULL
                      END
                  AND (NOT e ? 'note' OR jsonb_typeof(e->'note') IN ('string', 'null'))
                  AND e->>'observed_at' IS NULL, false))
       AND (SELECT count(DISTINCT CASE WHEN e->>'resident' ~ '^[0-9]{1,18}$'
                                       THEN (e->>'resident')::bigint END) = count(*)
              FROM jsonb_array_elements(items) AS t(e)) THEN
        seen := ARRAY(SELECT (e->>'resident')::bigint
                        FROM jsonb_array_elements(items) WITH ORDINALITY AS t(e, i) ORDER BY i);
        observed := array_fill(ctx_now(ctx), ARRAY[cardinality(seen)]);
    END IF;
    FOR element, position IN
        SELECT e, i - 1 FROM jsonb_array_elements(items) WITH ORDINALITY AS t(e, i)
         WHERE cardinality(seen) = 0 ORDER BY i
    LOOP
        field := format('observations[%s]', position);
        IF jsonb_typeof(element) <> 'object' THEN
            PERFORM fail(400, 'bad_field', field || ' must be an object', field);
        END IF;
        resident_id := arg_id(arg_required(element, 'resident', field || '.'),
                              field || '.resident');
        IF resident_id = ANY (seen) THEN
            PERFORM fail(400, 'duplicate_resident',
                         format('resident %s appears twice in one request', resident_id),
                         field || '.resident');
        END IF;
        seen := seen || resident_id;
        obs_status := arg_required(element, 'status', field || '.');
        IF obs_status NOT IN ('present', 'absent', 'excused') THEN
            PERFORM fail(400, 'bad_field', 'status must be one of present, absent, excused',
                         field || '.status');
        END IF;
        obs_reason := element->>'reason';
        IF obs_status = 'excused' AND (obs_reason IS NULL OR obs_reason NOT IN
               ('leave', 'hospital', 'school_trip', 'authority_meeting', 'other')) THEN
            PERFORM fail(400,
                         CASE WHEN obs_reason IS NULL THEN 'missing_field' ELSE 'bad_field' END,
                         'excused needs a reason: leave, hospital, school_trip, '
                         || 'authority_meeting or other',
                         field || '.reason');
        END IF;
        IF obs_status <> 'excused' AND obs_reason IS NOT NULL THEN
            PERFORM fail(400, 'bad_field', 'only excused takes a reason', field || '.reason');
        END IF;
        IF element ? 'note' AND jsonb_typeof(element->'note') NOT IN ('string', 'null') THEN
            PERFORM fail(400, 'bad_field', 'note must be a string', field || '.note');
        END IF;
        obs_at := arg_instant(element->>'observed_at', field || '.observed_at');
        IF obs_at > ctx_now(ctx) THEN
            PERFORM fail(400, 'bad_field', 'observed_at is in the future',
                         field || '.observed_at');
        END IF;
        IF obs_at < earliest THEN
            PERFORM fail(400, 'bad_field',
                         format('observed_at is before %s, the round''s scheduled instant '
                                'minus its grace period', to_jsonb(earliest) #>> '{}'),
                         field || '.observed_at');
        END IF;
        -- Not given: now. Not checked against the window then: a round may be recorded from
        -- two hours before its instant (below), and that is when it was observed.
        observed := observed || coalesce(obs_at, ctx_now(ctx));
    END LOOP;

    IF round_at > ctx_now(ctx) + interval '2 hours' THEN
        PERFORM fail(409, 'round_not_started',
                     format('round %s of %s is scheduled at %s; it can be recorded from two '
                            'hours before', rp.slot, rp.round_date, to_jsonb(round_at) #>> '{}'));
    END IF;

    -- One writer per round at a time, so that concurrent corrections of the same resident
    -- queue up instead of colliding on the one-current-row index.
    PERFORM pg_advisory_xact_lock(hashtextextended(format('round %s %s %s', centre_id,
                                                           rp.round_date, rp.slot), 0));
    expected := ARRAY(SELECT round_expected(centre_id, rp.round_date));
    -- Expected residents exist: when all are expected, neither refusal below can apply.
    FOR position IN 0 .. CASE WHEN seen <@ expected THEN -1
                              ELSE jsonb_array_length(items) - 1 END LOOP
        field := format('observations[%s].resident', position);
        resident_id := seen[position + 1];
        IF NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = resident_id) THEN
            PERFORM fail(422, 'unknown_resident', format('there is no resident %s', resident_id),
                         field);
        END IF;
        IF NOT resident_id = ANY (expected) THEN
            PERFORM fail(422, 'not_expected',
                         format('resident %s is not enrolled at %s on %s', resident_id,
                                centre_id, rp.round_date),
                         field);
        END IF;
    END LOOP;

    -- Set-based: which new observations become current (observed at or after the current one
    -- of their resident, or the first), supersede the current rows they replace, insert every
    -- new one (the others as history), then let the absence rules see each new current one in
    -- the order sent, at its observed_at.
    winners := ARRAY(
        SELECT n.resident
          FROM unnest(seen, observed) AS n(resident, observed_at)
         WHERE NOT EXISTS (SELECT 1 FROM observations o
                            WHERE o.centre = centre_id AND o.date = rp.round_date
                              AND o.slot = rp.slot AND o.resident = n.resident AND o.current
                              AND o.observed_at > n.observed_at));
    UPDATE observations o SET current = false
    WHERE o.centre = centre_id AND o.date = rp.round_date AND o.slot = rp.slot
      AND o.resident = ANY (winners) AND o.current;
    WITH inserted AS (
        INSERT INTO observations (centre, date, slot, resident, status, reason, note, round_at,
                                  observed_at, recorded_at, recorded_by, current)
        SELECT centre_id, rp.round_date, rp.slot, (e->>'resident')::bigint, e->>'status',
               e->>'reason', e->>'note', round_at, observed[i], ctx_now(ctx), ctx->>'cn',
               (e->>'resident')::bigint = ANY (winners)
        FROM jsonb_array_elements(items) WITH ORDINALITY AS t(e, i) ORDER BY i
        RETURNING id)
    SELECT array_agg(id) INTO new_ids FROM inserted;
    -- absence_observe acts only on an absent observation or on a resident with an open
    -- absence (present and excused do nothing to a resident without one): one index scan
    -- finds those, so a round of present residents makes no call per resident. The open
    -- absences are read by this statement's snapshot as absence_observe's own look would.
    open_ := ARRAY(SELECT a.resident FROM absences a
                    WHERE a.resident = ANY (winners) AND a.returned_at IS NULL);
    PERFORM absence_observe(ctx, (e->>'resident')::bigint, e->>'status', round_at, observed[i])
    FROM jsonb_array_elements(items) WITH ORDINALITY AS t(e, i)
    WHERE (e->>'resident')::bigint = ANY (winners)
      AND (e->>'status' = 'absent' OR (e->>'resident')::bigint = ANY (open_))
    ORDER BY i;

    PERFORM audit_many(ctx, 'round_post', seen);
    -- The answer is the round's summary and what this request recorded; the whole round with
    -- every expected resident is GET .../rounds/{date}/{slot} (a terminal sending one
    -- correction should not pay for, nor be audited as reading, 77 other residents).
    -- Each observation says whether it became current: a terminal syncing an offline round
    -- learns which of its observations another terminal's later ones overtook.
    RETURN QUERY SELECT 200, round_json(centre_id, rp.round_date, rp.slot, ctx_now(ctx),
                                        expected)
        || jsonb_build_object('observations', (
            SELECT jsonb_agg(jsonb_build_object(
                       'resident', o.resident, 'status', o.status, 'reason', o.reason,
                       'note', o.note, 'observed_at', o.observed_at,
                       'recorded_at', o.recorded_at, 'recorded_by', o.recorded_by,
                       'current', o.current) ORDER BY o.id)
            FROM observations o
            WHERE o.id = ANY (new_ids)));
END $$;

-- How far ahead round deadlines are scheduled, and how far back a late scheduler still fills
-- in: a daemon down for up to this long raises every round that fell due meanwhile.
CREATE FUNCTION rounds_horizon_days() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 7';

CREATE FUNCTION rounds_backfill_days() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 2';

-- ---------------------------------------------------------------------------------------------
-- Rounds: completion deadlines
-- ---------------------------------------------------------------------------------------------

-- Creates the deadlines of a centre's rounds for local dates [p_from, p_to], skipping rounds
-- scheduled before p_not_before (a centre created at 16:00 has no 07:00 round that day).
CREATE FUNCTION round_deadlines_schedule(p_centre text, p_from date, p_to date,
                                         p_not_before timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c centres;
    d record;
BEGIN
    SELECT * INTO c FROM centres WHERE id = p_centre;
    IF NOT FOUND OR p_from > p_to THEN
        RETURN;
    END IF;
    FOR d IN
        INSERT INTO round_deadlines (centre, date, slot, scheduled_at, due_at)
        SELECT c.id, day::date, slot, round_scheduled_at(c.id, day::date, slot),
               round_due_at(c.id, day::date, slot)
          FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS day,
               generate_series(1, 3) AS slot
         WHERE round_scheduled_at(c.id, day::date, slot) >= p_not_before
        ON CONFLICT (centre, date, slot) DO NOTHING
        RETURNING id, due_at
    LOOP
        PERFORM due_schedule('round_due', d.id, c.id, d.due_at);
    END LOOP;
END $$;

-- A new centre gets its round deadlines from its creation for the horizon ahead.
CREATE FUNCTION centres_schedule_rounds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    today date := (NEW.created_at AT TIME ZONE NEW.timezone)::date;
BEGIN
    PERFORM round_deadlines_schedule(NEW.id, today, today + rounds_horizon_days(),
                                     NEW.created_at);
    RETURN NULL;
END $$;

CREATE TRIGGER centres_schedule_rounds AFTER INSERT ON centres
    FOR EACH ROW EXECUTE FUNCTION centres_schedule_rounds();

-- Changed check times, grace or time zone move the deadlines not yet checked.
CREATE FUNCTION centres_reschedule_rounds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    FOR d IN
        UPDATE round_deadlines rd
           SET scheduled_at = round_scheduled_at(rd.centre, rd.date, rd.slot),
               due_at = round_due_at(rd.centre, rd.date, rd.slot)
         WHERE rd.centre = NEW.id AND rd.checked_at IS NULL
        RETURNING rd.id, rd.due_at
    LOOP
        PERFORM due_cancel('round_due', d.id);
        PERFORM due_schedule('round_due', d.id, NEW.id, d.due_at);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER centres_reschedule_rounds AFTER UPDATE ON centres
    FOR EACH ROW
    WHEN (OLD.check_times IS DISTINCT FROM NEW.check_times
          OR OLD.grace_minutes IS DISTINCT FROM NEW.grace_minutes
          OR OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION centres_reschedule_rounds();

-- The residents expected in a round (round_expected) without a current observation:
-- those a round_overdue alert names.
CREATE FUNCTION round_unaccounted(p_centre text, p_date date, p_slot integer) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    -- A scalar probe per resident (see round_json for why not NOT EXISTS).
    SELECT coalesce(array_agg(e.id ORDER BY e.id), '{}')
      FROM round_expected(p_centre, p_date) AS e(id)
     WHERE (SELECT o.id FROM observations o
             WHERE o.centre = p_centre AND o.date = p_date AND o.slot = p_slot
               AND o.resident = e.id AND o.current) IS NULL
$$;

-- Due: a round not complete at scheduled + grace raises round_overdue naming the residents not
-- yet accounted for. They are not presumed absent.
CREATE FUNCTION due_round_due(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d round_deadlines;
    missing bigint[];
BEGIN
    SELECT * INTO d FROM round_deadlines WHERE id = p_ref FOR UPDATE;
    IF NOT FOUND OR d.checked_at IS NOT NULL OR d.due_at > p_now THEN
        RETURN; -- checked already, or moved later (a newer due row stands)
    END IF;
    UPDATE round_deadlines SET checked_at = p_now WHERE id = d.id;
    missing := round_unaccounted(d.centre, d.date, d.slot);
    IF cardinality(missing) > 0 THEN
        PERFORM alert_raise(d.centre, 'round_overdue', NULL, NULL,
                            jsonb_build_object('date', d.date, 'slot', d.slot,
                                               'scheduled_at', d.scheduled_at,
                                               'due_at', d.due_at,
                                               'missing', to_jsonb(missing)),
                            p_now);
    END IF;
END $$;

-- Observations that complete an overdue round resolve its round_overdue alert, so on-call staff
-- are not called again for a round that is done.
CREATE FUNCTION observations_resolve_round_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT al.id, max(n.recorded_at) AS at, n.centre, n.date, n.slot
          FROM new_rows n
          JOIN alerts al ON al.kind = 'round_overdue' AND al.centre = n.centre
                        AND al.details->>'date' = n.date::text
                        AND al.details->>'slot' = n.slot::text
                        AND al.resolved_at IS NULL
         GROUP BY al.id, n.centre, n.date, n.slot
    LOOP
        IF cardinality(round_unaccounted(r.centre, r.date, r.slot)) = 0 THEN
            PERFORM alert_resolve(r.id, r.at);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER observations_resolve_round_alerts AFTER INSERT ON observations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observations_resolve_round_alerts();

-- Due, every few hours: keep round deadlines scheduled rounds_horizon_days ahead for every
-- centre, filling in at most rounds_backfill_days behind when the scheduler itself was late.
CREATE FUNCTION due_rounds_schedule(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    today date;
BEGIN
    FOR c IN
        SELECT ce.id, ce.timezone, ce.created_at,
               (SELECT max(rd.date) FROM round_deadlines rd WHERE rd.centre = ce.id) AS last
          FROM centres ce ORDER BY ce.id
    LOOP
        today := (p_now AT TIME ZONE c.timezone)::date;
        PERFORM round_deadlines_schedule(
            c.id,
            greatest(coalesce(c.last + 1, today), today - rounds_backfill_days()),
            today + rounds_horizon_days(),
            c.created_at);
    END LOOP;
    -- Housekeeping on the same beat: departed residents whose retention has no due row yet
    -- (a database from before retention existed) get one (export.sql).
    PERFORM retention_schedule_missing(10000);
    PERFORM due_schedule('rounds_schedule', 0, NULL, p_now + interval '6 hours');
END $$;
