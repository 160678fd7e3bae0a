-- Absences and their reporting rules, on-call alerts with their event log, and the timing
-- engine's due rows (SPEC sections 3, 4 and 8). Every instant arrives as a parameter: nothing
-- here reads the database clock.

-- ---------------------------------------------------------------------------------------------
-- Reporting rules: when and to whom authorities are notified. Data, not code: the law changes.
-- ---------------------------------------------------------------------------------------------

-- A rule applies to absences whose `since` falls (as a local date) in [valid_from, valid_to) and
-- whose resident's age on that date is in [min_age, max_age]. Threshold rules give the hours
-- after `since`; the concern and known_departure rules name the recipients of an immediate
-- notification (hours = 0).
CREATE TABLE threshold_rules (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason text NOT NULL
        CHECK (reason IN ('threshold_12h', 'threshold_24h', 'concern', 'known_departure')),
    min_age integer NOT NULL DEFAULT 0 CHECK (min_age >= 0),
    max_age integer CHECK (max_age IS NULL OR max_age >= min_age),
    hours integer NOT NULL CHECK (hours BETWEEN 0 AND 720),
    recipients text[] NOT NULL
        CHECK (cardinality(recipients) > 0
               AND recipients <@ ARRAY['municipality', 'police', 'immigration']),
    valid_from date NOT NULL,
    valid_to date CHECK (valid_to IS NULL OR valid_to > valid_from),
    note text,
    CHECK ((reason IN ('concern', 'known_departure')) = (hours = 0))
);

-- Which family a rule belongs to: at most one rule of a family may match an absence.
CREATE FUNCTION threshold_rule_family(p_reason text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_reason LIKE 'threshold%' THEN 'threshold' ELSE p_reason END
$$;

-- Overlapping rules would make the outcome depend on row order; refuse them (an exclusion
-- constraint would need btree_gist, which the application role may not be allowed to create).
CREATE FUNCTION threshold_rules_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rollcall.threshold_rules'));
    IF EXISTS (
        SELECT 1 FROM threshold_rules r
         WHERE r.id <> NEW.id
           AND threshold_rule_family(r.reason) = threshold_rule_family(NEW.reason)
           AND int4range(r.min_age, r.max_age, '[]') && int4range(NEW.min_age, NEW.max_age, '[]')
           AND daterange(r.valid_from, r.valid_to) && daterange(NEW.valid_from, NEW.valid_to))
    THEN
        RAISE EXCEPTION 'threshold rule overlaps another rule of the same kind'
            USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER threshold_rules_no_overlap BEFORE INSERT OR UPDATE ON threshold_rules
    FOR EACH ROW EXECUTE FUNCTION threshold_rules_no_overlap();

-- The operator contract (REGISTRERING AF UDEBLEVEN UMI): 12 hours under 15, 24 hours from 15;
-- at once on a known departure or a special concern; all three authorities every time.
INSERT INTO threshold_rules (reason, min_age, max_age, hours, recipients, valid_from, note) VALUES
    ('threshold_12h', 0, 14, 12, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: under 15, notify 12 hours after the resident was last accounted for'),
    ('threshold_24h', 15, NULL, 24, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: 15 or over, notify 24 hours after the resident was last accounted for'),
    ('concern', 0, NULL, 0, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: special concern, notify at once'),
    ('known_departure', 0, NULL, 0, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: staff know the resident has left the centre, notify at once');

-- The rule of a family in force for an age on a date (NULL when none: see absence_plan).
CREATE FUNCTION threshold_rule_for(p_family text, p_age integer, p_on date)
RETURNS threshold_rules LANGUAGE sql STABLE AS $$
    SELECT * FROM threshold_rules r
     WHERE threshold_rule_family(r.reason) = p_family
       AND r.min_age <= p_age AND (r.max_age IS NULL OR p_age <= r.max_age)
       AND r.valid_from <= p_on AND (r.valid_to IS NULL OR p_on < r.valid_to)
     ORDER BY r.valid_from DESC, r.id DESC
     LIMIT 1
$$;

-- ---------------------------------------------------------------------------------------------
-- Absences
-- ---------------------------------------------------------------------------------------------

CREATE TABLE absences (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    centre text NOT NULL REFERENCES centres,
    since timestamptz NOT NULL,           -- last instant the resident was accounted for
    opened_at timestamptz NOT NULL,       -- the clock when it was opened
    opened_by text NOT NULL,
    opened_round_at timestamptz,          -- the round whose `absent` opened it, NULL: a report
    age_at_since integer NOT NULL,        -- completed years on the local date of since
    rule bigint REFERENCES threshold_rules,
    notify_at timestamptz NOT NULL,       -- when authorities are (or were) to be notified
    reason text NOT NULL
        CHECK (reason IN ('threshold_12h', 'threshold_24h', 'concern', 'known_departure')),
    recipients text[] NOT NULL,           -- authority kinds, from the rule
    known_departure boolean NOT NULL DEFAULT false,
    concern text,
    concern_at timestamptz,
    concern_by text,
    notified_at timestamptz,              -- the instant the decision to notify was committed
    returned_at timestamptz,              -- back (or observed present) at this instant
    closed_at timestamptz,                -- the clock when the return was recorded
    closed_by text,
    note text,
    reports integer NOT NULL DEFAULT 1,   -- reports and absent observations it is made of
    CHECK (returned_at IS NULL OR returned_at >= since),
    CHECK ((returned_at IS NULL) = (closed_at IS NULL)),
    CHECK ((concern IS NULL) = (concern_at IS NULL))
);
-- One open absence per resident is a constraint, not a check in code: two concurrent reports
-- cannot both open one.
CREATE UNIQUE INDEX absences_one_open ON absences (resident) WHERE returned_at IS NULL;
CREATE INDEX absences_centre ON absences (centre, id);
CREATE INDEX absences_resident ON absences (resident, returned_at);

-- ---------------------------------------------------------------------------------------------
-- Alerts and their event log (the SSE stream replays from it)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE alerts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('resident_absent', 'round_overdue', 'absence_reported',
                                       'notification_failing', 'resident_returned',
                                       'turning_18')),
    centre text NOT NULL REFERENCES centres,
    resident bigint REFERENCES residents,
    absence bigint REFERENCES absences,
    raised_at timestamptz NOT NULL,
    last_announced_at timestamptz NOT NULL,
    announcements integer NOT NULL DEFAULT 1,
    acked_at timestamptz,
    acked_by text,
    escalated_at timestamptz,
    resolved_at timestamptz,
    details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    CHECK ((acked_at IS NULL) = (acked_by IS NULL))
);
-- "Nothing twice" for the alerts a due event or an absence raises, whatever retries happen.
CREATE UNIQUE INDEX alerts_once_per_absence ON alerts (kind, absence)
    WHERE kind IN ('resident_absent', 'resident_returned');
CREATE UNIQUE INDEX alerts_once_per_round ON alerts (centre, (details->>'date'), (details->>'slot'))
    WHERE kind = 'round_overdue';
CREATE UNIQUE INDEX alerts_once_per_birthday ON alerts (resident, (details->>'birthday'))
    WHERE kind = 'turning_18';
CREATE INDEX alerts_centre ON alerts (centre, id);
CREATE INDEX alerts_absence ON alerts (absence) WHERE absence IS NOT NULL;

-- seq is the SSE `id:`. Within a centre, seq order is commit order (alert_event_emit takes a
-- per-centre lock before drawing it), so a watcher that has seen seq N has seen every earlier
-- event of its centre and Last-Event-ID replay misses nothing.
CREATE TABLE alert_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres,
    alert bigint NOT NULL REFERENCES alerts,
    kind text NOT NULL CHECK (kind IN ('raised', 'reannounced', 'escalated', 'acked', 'resolved')),
    at timestamptz NOT NULL,
    body jsonb NOT NULL                   -- the alert JSON as it was at this event
);
CREATE INDEX alert_events_centre ON alert_events (centre, seq);

-- ---------------------------------------------------------------------------------------------
-- The timing engine's due rows
-- ---------------------------------------------------------------------------------------------

-- Every instant at which something must be decided. due_process() claims rows with
-- FOR UPDATE SKIP LOCKED and deletes each in the transaction that decides it, so each fires
-- once however many daemons run. kind names the handler due_<kind>(ref bigint, now timestamptz).
CREATE TABLE due_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,40}$'),
    ref bigint NOT NULL,
    centre text REFERENCES centres ON DELETE CASCADE,
    due_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,  -- failed attempts: the handler raised an error
    last_error text,
    UNIQUE NULLS NOT DISTINCT (kind, ref, centre, due_at)
);
CREATE INDEX due_events_due ON due_events (due_at, id);
CREATE INDEX due_events_ref ON due_events (ref, kind);
-- A queue table: every decided row is deleted, and the dead rows sit at the front of the due_at
-- index that every due_process scan starts from. Vacuum it after a thousand of them rather than
-- after a fifth of the table.
ALTER TABLE due_events SET (autovacuum_vacuum_scale_factor = 0.0,
                            autovacuum_vacuum_threshold = 1000,
                            autovacuum_analyze_scale_factor = 0.05);

-- A round's completion deadline (scheduled + grace), so that round_due has a row to point at.
-- Rounds themselves are not stored (DESIGN.md); this is only the engine's bookkeeping.
CREATE TABLE round_deadlines (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres ON DELETE CASCADE,
    date date NOT NULL,
    slot smallint NOT NULL CHECK (slot BETWEEN 1 AND 3),
    scheduled_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    checked_at timestamptz,
    UNIQUE (centre, date, slot)
);

-- How far ahead round deadlines are scheduled, and how far back a late scheduler still fills
-- in: a daemon down for up to this long raises every round that fell due meanwhile.
CREATE FUNCTION rounds_horizon_days() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 7';
CREATE FUNCTION rounds_backfill_days() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 2';

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

-- Runs one due handler, p_handler(p_arg, p_now), in a savepoint of its own: returns NULL when
-- it succeeded, else its error (everything it did rolled back). Errors that a retry of the
-- whole transaction can cure (deadlock, serialisation, cancel, shutdown) are raised instead, so
-- that the daemon retries the batch. p_arg is a ref or an array of refs.
CREATE FUNCTION due_try(p_handler text, p_arg anyelement, p_now timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT %I($1, $2)', p_handler) USING p_arg, p_now;
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
-- one by one by due_<kind>(ref, now). A handler that fails (a bug, bad data) must not block
-- every other due event: a failed batch is decided again one row at a time, each in a
-- savepoint, and a row that fails alone is put back postponed with backoff and logged. Errors
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
    claimed due_events[];
    g record;
    r due_events;
    err text;
BEGIN
    WITH picked AS (
        SELECT e.id FROM due_events e
         WHERE e.due_at <= p_now
         ORDER BY e.due_at, e.id
         LIMIT p_max
           FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM due_events d USING picked WHERE d.id = picked.id RETURNING d AS ev
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
            err := due_try('due_' || g.kind || '_batch', g.refs, p_now);
            CONTINUE WHEN err IS NULL;
            RAISE WARNING 'due batch of % % events failed, deciding them one by one: %',
                cardinality(g.refs), g.kind, err;
        END IF;
        FOREACH r IN ARRAY claimed LOOP
            CONTINUE WHEN r.kind <> g.kind;
            err := due_try('due_' || r.kind, r.ref, p_now);
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

-- ---------------------------------------------------------------------------------------------
-- Alerts: raising, announcing, escalating, acknowledging, resolving
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION alert_json(a alerts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'kind', a.kind, 'centre', a.centre, 'resident', a.resident,
        'absence', a.absence, 'raised_at', a.raised_at, 'last_announced_at', a.last_announced_at,
        'acked_at', a.acked_at, 'acked_by', a.acked_by, 'escalated_at', a.escalated_at,
        'resolved_at', a.resolved_at, 'details', a.details)
$$;

-- Appends an event with each alert's current JSON (the arrays are parallel, in the order the
-- events happen) and tells every daemon's hub. The per-centre locks, held to commit, make seq
-- order equal commit order within a centre. Returns the new seqs.
CREATE FUNCTION alert_events_emit(p_alerts bigint[], p_kinds text[], p_now timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rollcall.alert_events'), hashtext(x.centre))
       FROM (SELECT DISTINCT a.centre FROM alerts a
              WHERE a.id = ANY (p_alerts) ORDER BY a.centre) x;
    RETURN QUERY
    WITH ins AS (
        INSERT INTO alert_events (centre, alert, kind, at, body)
        SELECT a.centre, a.id, u.kind, p_now, alert_json(a)
          FROM unnest(p_alerts, p_kinds) WITH ORDINALITY AS u(alert, kind, ord)
          JOIN alerts a ON a.id = u.alert
         ORDER BY u.ord
        RETURNING alert_events.seq
    )
    SELECT n.seq FROM (SELECT ins.seq, pg_notify('rc_alert', ins.seq::text) FROM ins
                        ORDER BY ins.seq) n;
END $$;

CREATE FUNCTION alert_event_emit(p_alert bigint, p_kind text, p_now timestamptz)
RETURNS bigint LANGUAGE sql AS $$
    SELECT max(s) FROM alert_events_emit(ARRAY[p_alert], ARRAY[p_kind], p_now) s
$$;

-- Stores an alert, its first event and its repeat and escalation due rows. Returns the new
-- alert's id, or NULL when this alert was raised already (same absence, round or birthday):
-- retries and duplicate due rows never raise an alert twice.
CREATE FUNCTION alert_raise(p_centre text, p_kind text, p_resident bigint, p_absence bigint,
                            p_details jsonb, p_now timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
    c centres;
BEGIN
    SELECT * INTO c FROM centres WHERE id = p_centre;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'alert_raise: unknown centre %', p_centre;
    END IF;
    INSERT INTO alerts (kind, centre, resident, absence, raised_at, last_announced_at, details)
    VALUES (p_kind, p_centre, p_resident, p_absence, p_now, p_now, coalesce(p_details, '{}'))
    ON CONFLICT DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM alert_event_emit(new_id, 'raised', p_now);
    PERFORM due_schedule('alert_repeat', new_id, p_centre,
                         p_now + make_interval(mins => c.repeat_minutes));
    PERFORM due_schedule('alert_escalate', new_id, p_centre,
                         p_now + make_interval(mins => c.escalate_minutes));
    RETURN new_id;
END $$;

-- Marks an alert resolved (its cause went away), stops its repeats and tells the watchers.
-- Resolving twice changes nothing.
CREATE FUNCTION alert_resolve(p_alert bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alerts SET resolved_at = p_now WHERE id = p_alert AND resolved_at IS NULL;
    IF FOUND THEN
        PERFORM due_cancel('alert_repeat', p_alert);
        PERFORM due_cancel('alert_escalate', p_alert);
        PERFORM alert_event_emit(p_alert, 'resolved', p_now);
    END IF;
END $$;

-- Due: announce unacknowledged alerts again. However many intervals were missed (downtime, a
-- test clock moved by hours), each is announced once and its next repeat scheduled one
-- interval after it. When escalation is due as well, the escalation is the announcement.
CREATE FUNCTION due_alert_repeat_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    kinds text[];
    next_ids bigint[];
    next_centres text[];
    next_at timestamptz[];
BEGIN
    WITH live AS (
        SELECT a.id, a.centre, a.raised_at, a.escalated_at, a.last_announced_at,
               make_interval(mins => c.repeat_minutes) AS repeat_every,
               make_interval(mins => c.escalate_minutes) AS escalate_after
          FROM alerts a JOIN centres c ON c.id = a.centre
         WHERE a.id = ANY (p_refs) AND a.acked_at IS NULL AND a.resolved_at IS NULL
         ORDER BY a.id
           FOR UPDATE OF a
    ), decided AS (
        SELECT l.*,
               CASE WHEN l.escalated_at IS NULL AND l.raised_at + l.escalate_after <= p_now
                        THEN 'escalated'
                    WHEN l.last_announced_at + l.repeat_every <= p_now
                        THEN 'reannounced'
               END AS action
          FROM live l
    ), announced AS (
        UPDATE alerts a
           SET escalated_at = CASE WHEN d.action = 'escalated' THEN p_now ELSE a.escalated_at END,
               last_announced_at = p_now, announcements = a.announcements + 1
          FROM decided d
         WHERE a.id = d.id AND d.action IS NOT NULL
    )
    SELECT array_agg(d.id ORDER BY d.centre, d.id) FILTER (WHERE d.action IS NOT NULL),
           array_agg(d.action ORDER BY d.centre, d.id) FILTER (WHERE d.action IS NOT NULL),
           array_agg(d.id ORDER BY d.id), array_agg(d.centre ORDER BY d.id),
           array_agg(CASE WHEN d.action IS NULL THEN d.last_announced_at ELSE p_now END
                     + d.repeat_every ORDER BY d.id)
      INTO ids, kinds, next_ids, next_centres, next_at
      FROM decided d;
    IF ids IS NOT NULL THEN
        PERFORM alert_events_emit(ids, kinds, p_now);
    END IF;
    PERFORM due_schedule_many('alert_repeat', next_ids, next_centres, next_at);
END $$;

CREATE FUNCTION due_alert_repeat(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT due_alert_repeat_batch(ARRAY[p_ref], p_now)
$$;

-- Due: escalate to managers alerts still unacknowledged escalate_minutes after they were
-- raised.
CREATE FUNCTION due_alert_escalate_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    WITH live AS (
        SELECT a.id FROM alerts a
         WHERE a.id = ANY (p_refs) AND a.acked_at IS NULL AND a.resolved_at IS NULL
           AND a.escalated_at IS NULL
         ORDER BY a.id
           FOR UPDATE
    ), escalated AS (
        UPDATE alerts a
           SET escalated_at = p_now, last_announced_at = p_now,
               announcements = a.announcements + 1
          FROM live
         WHERE a.id = live.id
        RETURNING a.id, a.centre
    )
    SELECT array_agg(e.id ORDER BY e.centre, e.id) INTO ids FROM escalated e;
    IF ids IS NOT NULL THEN
        PERFORM alert_events_emit(ids, array_fill('escalated'::text, ARRAY[cardinality(ids)]),
                                  p_now);
    END IF;
END $$;

CREATE FUNCTION due_alert_escalate(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT due_alert_escalate_batch(ARRAY[p_ref], p_now)
$$;

-- Events after a seq for SSE replay (Last-Event-ID), oldest first, at most p_max, and not past
-- p_upto when given (the head read when the watcher registered).
CREATE FUNCTION alert_events_since(p_centre text, p_after bigint, p_max integer,
                                   p_upto bigint DEFAULT NULL)
RETURNS TABLE(seq bigint, kind text, body jsonb) LANGUAGE sql STABLE AS $$
    SELECT e.seq, e.kind, e.body FROM alert_events e
     WHERE e.centre = p_centre AND e.seq > p_after
       AND (p_upto IS NULL OR e.seq <= p_upto)
     ORDER BY e.seq
     LIMIT p_max
$$;

-- The latest event seq of a centre (0 when none): where a new watcher's stream starts.
CREATE FUNCTION alert_events_head(p_centre text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(seq), 0) FROM alert_events WHERE centre = p_centre
$$;

-- ---------------------------------------------------------------------------------------------
-- Absences: opening, notifying, closing
-- ---------------------------------------------------------------------------------------------

-- The centre a resident is enrolled at on the local date of an instant (arrival day included,
-- departure day excluded), or NULL.
CREATE FUNCTION resident_centre_at(p_resident bigint, p_at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT s.centre FROM stays s JOIN centres c ON c.id = s.centre
     WHERE s.resident = p_resident
       AND s.from_date <= (p_at AT TIME ZONE c.timezone)::date
       AND (s.to_date IS NULL OR s.to_date > (p_at AT TIME ZONE c.timezone)::date)
     ORDER BY s.from_date DESC, s.id DESC
     LIMIT 1
$$;

-- The last instant a resident was accounted for at or before p_at: the latest present or
-- excused observation, the latest return from an earlier absence, or the start (local midnight)
-- of the arrival day at the centre, whichever is latest.
CREATE FUNCTION absence_accounted_since(p_resident bigint, p_centre text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT greatest(
        (SELECT max(o.round_at) FROM observations o
          WHERE o.resident = p_resident AND o.current
            AND o.status IN ('present', 'excused') AND o.round_at <= p_at),
        (SELECT max(a.returned_at) FROM absences a
          WHERE a.resident = p_resident AND a.returned_at <= p_at),
        (SELECT local_instant(s.from_date::timestamp, c.timezone)
           FROM stays s JOIN centres c ON c.id = s.centre
          WHERE s.resident = p_resident AND s.centre = p_centre
            AND s.from_date <= (p_at AT TIME ZONE c.timezone)::date
          ORDER BY s.from_date DESC, s.id DESC
          LIMIT 1))
$$;

CREATE FUNCTION absence_json(a absences) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'resident', a.resident, 'centre', a.centre, 'since', a.since,
        'opened_at', a.opened_at, 'opened_by', a.opened_by, 'notify_at', a.notify_at,
        'reason', a.reason, 'known_departure', a.known_departure, 'concern', a.concern,
        'notified_at', a.notified_at, 'returned_at', a.returned_at, 'note', a.note,
        'age_at_since', a.age_at_since, 'recipients', to_jsonb(a.recipients))
$$;

-- The webhook body of SPEC section 10 without event_id (the outbox adds it per authority),
-- from the rows (a plain expression, so that a query over many absences inlines it).
CREATE FUNCTION absence_payload_json(a absences, c centres, r residents, p_type text,
                                     p_reason text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'type', p_type,
        'absence', a.id,
        'centre', jsonb_build_object('id', c.id, 'name', c.name, 'operator', c.operator),
        'resident', jsonb_build_object(
            'case_number', r.case_number, 'given_name', r.given_name,
            'family_name', r.family_name, 'date_of_birth', r.date_of_birth,
            'age', a.age_at_since),
        'since', a.since,
        'reason', p_reason,
        'concern', a.concern,
        'returned_at', a.returned_at)
$$;

CREATE FUNCTION absence_payload(p_absence bigint, p_type text, p_reason text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT absence_payload_json(a, c, r, p_type, p_reason)
      FROM absences a
      JOIN centres c ON c.id = a.centre
      JOIN residents r ON r.id = a.resident
     WHERE a.id = p_absence
$$;

-- Decides when and why an absence is to be reported, from its since, the resident's age on the
-- local date of since, the flags and the rules in force then. Sets notify_at, reason,
-- recipients and rule on the row passed in; the caller stores it. A threshold instant already
-- passed at p_now means at once. With no matching rule (the rules table emptied by mistake)
-- the careful choice is to notify all three authorities at once.
CREATE FUNCTION absence_plan(a absences, p_now timestamptz) RETURNS absences
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tz text;
    since_date date;
    rule threshold_rules;
    family text;
BEGIN
    SELECT timezone INTO tz FROM centres WHERE id = a.centre;
    since_date := (a.since AT TIME ZONE tz)::date;
    a.age_at_since := age_years((SELECT date_of_birth FROM residents WHERE id = a.resident),
                                since_date);
    family := CASE WHEN a.concern IS NOT NULL THEN 'concern'
                   WHEN a.known_departure THEN 'known_departure'
                   ELSE 'threshold' END;
    rule := threshold_rule_for(family, a.age_at_since, since_date);
    IF rule.id IS NULL THEN
        RAISE WARNING 'no % rule for age % on %: notifying at once', family, a.age_at_since,
            since_date;
        a.rule := NULL;
        a.reason := CASE family WHEN 'threshold' THEN 'threshold_12h' ELSE family END;
        a.recipients := ARRAY['municipality', 'police', 'immigration'];
        a.notify_at := p_now;
        RETURN a;
    END IF;
    a.rule := rule.id;
    a.reason := rule.reason;
    a.recipients := rule.recipients;
    -- At once for a concern or a known departure (hours = 0), and when the threshold instant
    -- has already passed.
    a.notify_at := greatest(p_now, a.since + make_interval(hours => rule.hours));
    RETURN a;
END $$;

-- Records the decision to notify the authorities of absences, each for its reason and to its
-- recipients: the outbox rows are written in this transaction, so the decision and the
-- deliveries commit together.
CREATE FUNCTION absence_notify_many(p_absences bigint[], p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    items outbox_item[];
BEGIN
    SELECT array_agg(ROW(a.centre, 'absence.reported',
                         absence_payload_json(a, c, r, 'absence.reported', a.reason),
                         a.recipients, p_now, a.id, a.resident)::outbox_item ORDER BY a.id)
      INTO items
      FROM absences a
      JOIN centres c ON c.id = a.centre
      JOIN residents r ON r.id = a.resident
     WHERE a.id = ANY (p_absences);
    IF items IS NULL THEN
        RETURN;
    END IF;
    PERFORM outbox_enqueue_many(items, p_now);
    UPDATE absences SET notified_at = coalesce(notified_at, p_now) WHERE id = ANY (p_absences);
    PERFORM due_cancel_many('absence_notify', p_absences);
END $$;

-- Stores a new or re-planned notify instant: at once now, or a due row for later.
CREATE FUNCTION absence_apply_plan(a absences, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE absences
       SET notify_at = a.notify_at, reason = a.reason, recipients = a.recipients,
           rule = a.rule, age_at_since = a.age_at_since
     WHERE id = a.id;
    IF a.notify_at <= p_now THEN
        PERFORM absence_notify_many(ARRAY[a.id], p_now);
    ELSE
        PERFORM due_schedule('absence_notify', a.id, a.centre, a.notify_at);
    END IF;
END $$;

-- Opens an absence (the caller has checked there is none open and holds whatever lock the
-- insert needs). Returns the new id, or NULL when a concurrent transaction opened one first.
CREATE FUNCTION absence_open(p_resident bigint, p_centre text, p_since timestamptz,
                             p_round_at timestamptz, p_known_departure boolean,
                             p_concern text, p_note text, p_cn text, p_now timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a absences;
BEGIN
    a.resident := p_resident;
    a.centre := p_centre;
    a.since := coalesce(p_since, p_now);
    a.known_departure := coalesce(p_known_departure, false);
    a.concern := p_concern;
    a := absence_plan(a, p_now);
    INSERT INTO absences (resident, centre, since, opened_at, opened_by, opened_round_at,
                          age_at_since, rule, notify_at, reason, recipients, known_departure,
                          concern, concern_at, concern_by, note)
    VALUES (a.resident, a.centre, a.since, p_now, p_cn, p_round_at, a.age_at_since, a.rule,
            a.notify_at, a.reason, a.recipients, a.known_departure, a.concern,
            CASE WHEN a.concern IS NOT NULL THEN p_now END,
            CASE WHEN a.concern IS NOT NULL THEN p_cn END, p_note)
    ON CONFLICT (resident) WHERE returned_at IS NULL DO NOTHING
    RETURNING * INTO a;
    IF a.id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM alert_raise(a.centre, 'resident_absent', a.resident, a.id,
                        jsonb_build_object('since', a.since, 'notify_at', a.notify_at,
                                           'reason', a.reason,
                                           'opened_by_round', p_round_at IS NOT NULL),
                        p_now);
    IF a.notify_at <= p_now THEN
        PERFORM absence_notify_many(ARRAY[a.id], p_now);
    ELSE
        PERFORM due_schedule('absence_notify', a.id, a.centre, a.notify_at);
    END IF;
    RETURN a.id;
END $$;

-- A special concern on an open absence. Before notification it is the notification, at once
-- (reason concern). After notification the authorities already know of the absence but not of
-- the concern: they get a further absence.reported with reason concern and the concern text.
CREATE FUNCTION absence_add_concern(p_absence bigint, p_text text, p_cn text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a absences;
BEGIN
    UPDATE absences
       SET concern = CASE WHEN concern IS NULL THEN p_text ELSE concern || E'\n' || p_text END,
           concern_at = coalesce(concern_at, p_now),
           concern_by = coalesce(concern_by, p_cn)
     WHERE id = p_absence
    RETURNING * INTO a;
    IF a.notified_at IS NULL THEN
        a := absence_plan(a, p_now);
        PERFORM absence_apply_plan(a, p_now);
    ELSE
        PERFORM outbox_enqueue(a.centre, 'absence.reported',
                               absence_payload(a.id, 'absence.reported', 'concern'),
                               a.recipients, p_now, a.id, p_now);
    END IF;
END $$;

-- Staff now know the resident has left the centre: notify at once unless already notified.
CREATE FUNCTION absence_add_known_departure(p_absence bigint, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a absences;
BEGIN
    UPDATE absences SET known_departure = true WHERE id = p_absence RETURNING * INTO a;
    IF a.notified_at IS NULL AND a.concern IS NULL THEN
        a := absence_plan(a, p_now);
        PERFORM absence_apply_plan(a, p_now);
    END IF;
END $$;

-- Closes an absence: the resident is back at p_returned_at. Its alerts stop repeating, on-call
-- staff get resident_returned, and only if the authorities were notified does each get
-- absence.returned (otherwise nobody outside the centre hears of it).
CREATE FUNCTION absence_close(p_absence bigint, p_returned_at timestamptz, p_cn text,
                              p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a absences;
    al bigint;
BEGIN
    UPDATE absences
       SET returned_at = p_returned_at, closed_at = p_now, closed_by = p_cn
     WHERE id = p_absence AND returned_at IS NULL
    RETURNING * INTO a;
    IF a.id IS NULL THEN
        RETURN;
    END IF;
    PERFORM due_cancel('absence_notify', a.id);
    FOR al IN SELECT id FROM alerts
               WHERE absence = a.id AND resolved_at IS NULL
                 AND kind IN ('resident_absent', 'absence_reported')
               ORDER BY id
    LOOP
        PERFORM alert_resolve(al, p_now);
    END LOOP;
    PERFORM alert_raise(a.centre, 'resident_returned', a.resident, a.id,
                        jsonb_build_object('since', a.since, 'returned_at', a.returned_at,
                                           'authorities_notified', a.notified_at IS NOT NULL),
                        p_now);
    IF a.notified_at IS NOT NULL THEN
        PERFORM outbox_enqueue(a.centre, 'absence.returned',
                               absence_payload(a.id, 'absence.returned', a.reason),
                               a.recipients, p_now, a.id, p_now);
    END IF;
END $$;

-- Contract with the rounds (op_round_post calls it for every stored observation):
--   absent   opens an absence, or adds to the open one;
--   present  closes the open absence at the round's instant, if the round is later than since;
--            a present observation of an earlier round entered late (before the absence was
--            opened, and not a correction of the round that opened it) only shows the resident
--            was accounted for later than thought: since moves there and the notification is
--            re-planned if it has not been made yet;
--   excused  does nothing to an open absence.
CREATE FUNCTION absence_observe(ctx jsonb, p_resident bigint, p_status text,
                                p_round_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := (ctx->>'now')::timestamptz;
    cn text := ctx->>'cn';
    a absences;
    centre_ text;
BEGIN
    SELECT * INTO a FROM absences
     WHERE resident = p_resident AND returned_at IS NULL
       FOR UPDATE;
    IF p_status = 'absent' THEN
        IF a.id IS NOT NULL THEN
            UPDATE absences SET reports = reports + 1 WHERE id = a.id;
            RETURN;
        END IF;
        centre_ := coalesce(resident_centre_at(p_resident, p_round_at),
                            resident_centre_at(p_resident, now_));
        IF centre_ IS NULL THEN
            RAISE EXCEPTION 'absence_observe: resident % is not enrolled on %', p_resident,
                p_round_at;
        END IF;
        IF absence_open(p_resident, centre_,
                        absence_accounted_since(p_resident, centre_, p_round_at),
                        p_round_at, false, NULL, NULL, cn, now_) IS NULL THEN
            -- A concurrent report opened it between our look and our insert: add to it.
            UPDATE absences SET reports = reports + 1
             WHERE resident = p_resident AND returned_at IS NULL;
        END IF;
    ELSIF p_status = 'present' THEN
        IF a.id IS NULL OR p_round_at <= a.since THEN
            RETURN;
        END IF;
        IF p_round_at < a.opened_at AND a.opened_round_at IS DISTINCT FROM p_round_at THEN
            UPDATE absences SET since = p_round_at WHERE id = a.id RETURNING * INTO a;
            IF a.notified_at IS NULL THEN
                a := absence_plan(a, now_);
                PERFORM absence_apply_plan(a, now_);
            END IF;
            RETURN;
        END IF;
        PERFORM absence_close(a.id, p_round_at, cn, now_);
    END IF;
END $$;

-- Due: notify the authorities of absences whose threshold has come. Stale rows (the absence
-- closed, already notified, or re-planned to a later instant) do nothing.
CREATE FUNCTION due_absence_notify_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(x.id ORDER BY x.id) INTO ids FROM (
        SELECT a.id FROM absences a
         WHERE a.id = ANY (p_refs) AND a.returned_at IS NULL AND a.notified_at IS NULL
           AND a.notify_at <= p_now
         ORDER BY a.id
           FOR UPDATE) x;
    IF ids IS NOT NULL THEN
        PERFORM absence_notify_many(ids, p_now);
    END IF;
END $$;

CREATE FUNCTION due_absence_notify(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT due_absence_notify_batch(ARRAY[p_ref], p_now)
$$;

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

-- The residents expected in a round (004's round_expected) without a current observation:
-- those a round_overdue alert names.
CREATE FUNCTION round_unaccounted(p_centre text, p_date date, p_slot integer) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    -- A scalar probe per resident (see round_json in 004 for why not NOT EXISTS).
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
    PERFORM due_schedule('rounds_schedule', 0, NULL, p_now + interval '6 hours');
END $$;

-- The scheduler's first run: due at once, whatever the clock says.
DO $$ BEGIN PERFORM due_schedule('rounds_schedule', 0, NULL, '2000-01-01 00:00:00+00'); END $$;

-- ---------------------------------------------------------------------------------------------
-- Turning 18: managers are warned 30 days ahead
-- ---------------------------------------------------------------------------------------------

-- Local midnight, 30 days before the 18th birthday, in the centre's time zone.
CREATE FUNCTION turning_18_warn_at(p_date_of_birth date, p_centre text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT local_instant(((p_date_of_birth + interval '18 years')::date - 30)::timestamp,
                         c.timezone)
      FROM centres c WHERE c.id = p_centre
$$;

CREATE FUNCTION stays_schedule_turning_18() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM due_schedule('turning_18', NEW.resident, NEW.centre,
                         turning_18_warn_at(
                             (SELECT date_of_birth FROM residents WHERE id = NEW.resident),
                             NEW.centre));
    RETURN NULL;
END $$;
CREATE TRIGGER stays_schedule_turning_18 AFTER INSERT ON stays
    FOR EACH ROW EXECUTE FUNCTION stays_schedule_turning_18();

-- A corrected date of birth (age assessment) moves the warning; the old due row then finds the
-- warning not yet due and does nothing.
CREATE FUNCTION residents_reschedule_turning_18() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT DISTINCT centre FROM stays WHERE resident = NEW.id AND centre IS NOT NULL
    LOOP
        PERFORM due_schedule('turning_18', NEW.id, s.centre,
                             turning_18_warn_at(NEW.date_of_birth, s.centre));
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER residents_reschedule_turning_18 AFTER UPDATE OF date_of_birth ON residents
    FOR EACH ROW WHEN (OLD.date_of_birth IS DISTINCT FROM NEW.date_of_birth)
    EXECUTE FUNCTION residents_reschedule_turning_18();

-- Due: raise turning_18 for the centre the resident is enrolled at, once per birthday.
CREATE FUNCTION due_turning_18(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r residents;
    centre_ text;
    birthday date;
BEGIN
    SELECT * INTO r FROM residents WHERE id = p_ref;
    IF NOT FOUND OR r.anonymised_at IS NOT NULL THEN
        RETURN;
    END IF;
    centre_ := resident_centre_at(r.id, p_now);
    IF centre_ IS NULL OR turning_18_warn_at(r.date_of_birth, centre_) > p_now THEN
        RETURN; -- not enrolled now, or the date of birth moved the warning later
    END IF;
    birthday := (r.date_of_birth + interval '18 years')::date;
    PERFORM alert_raise(centre_, 'turning_18', r.id, NULL,
                        jsonb_build_object('birthday', birthday,
                                           'date_of_birth', r.date_of_birth),
                        p_now);
END $$;

-- ---------------------------------------------------------------------------------------------
-- API operations (called by api(), see DESIGN.md)
-- ---------------------------------------------------------------------------------------------

-- The absence as stored, or 404.
CREATE FUNCTION absence_find(p_id text) RETURNS absences LANGUAGE plpgsql AS $$
DECLARE
    a absences;
BEGIN
    IF p_id IS NULL OR p_id !~ '^[0-9]{1,18}$' THEN
        PERFORM fail(404, 'not_found', 'no such absence', 'id');
    END IF;
    SELECT * INTO a FROM absences WHERE id = p_id::bigint FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', 'no such absence', 'id');
    END IF;
    RETURN a;
END $$;

-- POST /v1/residents/{id}/absences: staff report an absence now. A second report while one is
-- open adds to it (200); a new one is 201.
CREATE FUNCTION op_resident_absence_report(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := (ctx->>'now')::timestamptz;
    cn text := ctx->>'cn';
    b jsonb := coalesce(args->'body', '{}');
    rid text := args->'path'->>'id';
    res residents;
    centre_ text;
    known boolean := coalesce((b->>'known_departure')::boolean, false);
    concern_ text := nullif(btrim(b->>'concern'), '');
    note_ text := nullif(btrim(b->>'note'), '');
    a absences;
    new_id bigint;
BEGIN
    IF rid IS NULL OR rid !~ '^[0-9]{1,18}$' THEN
        PERFORM fail(404, 'not_found', 'no such resident', 'id');
    END IF;
    -- Locking the resident serialises reports and rounds about the same child.
    SELECT * INTO res FROM residents WHERE id = rid::bigint FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', 'no such resident', 'id');
    END IF;
    centre_ := resident_centre_at(res.id, now_);
    IF centre_ IS NULL THEN
        IF EXISTS (SELECT 1 FROM stays WHERE resident = res.id) THEN
            PERFORM require_centre(ctx, (SELECT centre FROM stays WHERE resident = res.id
                                          ORDER BY from_date DESC, id DESC LIMIT 1));
        END IF;
        PERFORM fail(409, 'not_enrolled', 'the resident is not enrolled at a centre today',
                     'id');
    END IF;
    PERFORM require_centre(ctx, centre_);

    SELECT * INTO a FROM absences WHERE resident = res.id AND returned_at IS NULL FOR UPDATE;
    IF a.id IS NULL THEN
        new_id := absence_open(res.id, centre_,
                               absence_accounted_since(res.id, centre_, now_), NULL, known,
                               concern_, note_, cn, now_);
        PERFORM audit(ctx, 'absence.report', res.id);
        SELECT * INTO a FROM absences WHERE id = new_id;
        RETURN QUERY SELECT 201, absence_json(a);
        RETURN;
    END IF;

    UPDATE absences
       SET reports = reports + 1,
           note = CASE WHEN note_ IS NULL THEN note
                       WHEN note IS NULL THEN note_ ELSE note || E'\n' || note_ END
     WHERE id = a.id;
    IF concern_ IS NOT NULL THEN
        PERFORM absence_add_concern(a.id, concern_, cn, now_);
    END IF;
    IF known THEN
        PERFORM absence_add_known_departure(a.id, now_);
    END IF;
    PERFORM audit(ctx, 'absence.report', res.id);
    SELECT * INTO a FROM absences WHERE id = a.id;
    RETURN QUERY SELECT 200, absence_json(a);
END $$;

-- GET /v1/absences/{id}
CREATE FUNCTION op_absence_get(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    a absences;
BEGIN
    IF (args->'path'->>'id') IS NULL OR (args->'path'->>'id') !~ '^[0-9]{1,18}$' THEN
        PERFORM fail(404, 'not_found', 'no such absence', 'id');
    END IF;
    SELECT * INTO a FROM absences WHERE id = (args->'path'->>'id')::bigint;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', 'no such absence', 'id');
    END IF;
    PERFORM require_centre(ctx, a.centre);
    PERFORM audit(ctx, 'absence.read', a.resident);
    RETURN QUERY SELECT 200, absence_json(a);
END $$;

-- The centres an account may see, for lists without ?centre= (NULL: all, for admins).
CREATE FUNCTION ctx_centres(ctx jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ctx->>'role' = 'admin' THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text(coalesce(ctx->'centres', '[]')))
           END
$$;

-- GET /v1/absences?centre=&open=true&resident=&limit=&after=  (ascending id; cursor = last id)
CREATE FUNCTION op_absence_list(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    q jsonb := coalesce(args->'query', '{}');
    centre_ text := q->>'centre';
    visible text[] := ctx_centres(ctx);
    open_only boolean := coalesce((q->>'open')::boolean, false);
    resident_ bigint := arg_id(q->>'resident', 'resident');
    lim integer := page_limit(args);
    after_ bigint := page_after_id(args);
    items jsonb;
    ids bigint[];
BEGIN
    IF centre_ IS NOT NULL THEN
        PERFORM require_centre(ctx, centre_);
    END IF;
    SELECT jsonb_agg(absence_json(p.a) ORDER BY (p.a).id),
           (array_agg((p.a).resident ORDER BY (p.a).id))[1:lim]
      INTO items, ids
      FROM (SELECT a FROM absences a
             WHERE (centre_ IS NULL OR a.centre = centre_)
               AND (visible IS NULL OR a.centre = ANY (visible))
               AND (NOT open_only OR a.returned_at IS NULL)
               AND (resident_ IS NULL OR a.resident = resident_)
               AND a.id > after_
             ORDER BY a.id
             LIMIT lim + 1) p;
    PERFORM audit_many(ctx, 'absence.list', ids);
    RETURN QUERY SELECT 200, page(items, lim);
END $$;

-- POST /v1/absences/{id}/concern {"text"}
CREATE FUNCTION op_absence_concern(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := (ctx->>'now')::timestamptz;
    text_ text := nullif(btrim(args->'body'->>'text'), '');
    a absences := absence_find(args->'path'->>'id');
BEGIN
    PERFORM require_centre(ctx, a.centre);
    IF text_ IS NULL THEN
        PERFORM fail(400, 'bad_field', 'text must describe the concern', 'text');
    END IF;
    IF a.returned_at IS NOT NULL THEN
        PERFORM fail(409, 'absence_closed', 'the absence is closed: the resident has returned',
                     'id');
    END IF;
    PERFORM absence_add_concern(a.id, text_, ctx->>'cn', now_);
    PERFORM audit(ctx, 'absence.concern', a.resident);
    SELECT * INTO a FROM absences WHERE id = a.id;
    RETURN QUERY SELECT 200, absence_json(a);
END $$;

-- POST /v1/absences/{id}/return {"at"}: the resident is back (at defaults to now).
CREATE FUNCTION op_absence_return(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := (ctx->>'now')::timestamptz;
    at_ timestamptz := coalesce((args->'body'->>'at')::timestamptz, now_);
    a absences := absence_find(args->'path'->>'id');
BEGIN
    PERFORM require_centre(ctx, a.centre);
    IF a.returned_at IS NOT NULL THEN
        PERFORM fail(409, 'absence_closed', 'the absence is closed already', 'id');
    END IF;
    IF at_ > now_ THEN
        PERFORM fail(400, 'bad_field', 'at must not be in the future', 'at');
    END IF;
    IF at_ < a.since THEN
        PERFORM fail(400, 'bad_field', 'at must not be before the absence began (since)', 'at');
    END IF;
    PERFORM absence_close(a.id, at_, ctx->>'cn', now_);
    PERFORM audit(ctx, 'absence.return', a.resident);
    SELECT * INTO a FROM absences WHERE id = a.id;
    RETURN QUERY SELECT 200, absence_json(a);
END $$;

-- GET /v1/alerts?centre=&state=open|acked|resolved|all&kind=&limit=&after=  (ascending id)
-- open: neither acknowledged nor resolved, what on-call staff still have to act on.
CREATE FUNCTION op_alert_list(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    q jsonb := coalesce(args->'query', '{}');
    centre_ text := q->>'centre';
    visible text[] := ctx_centres(ctx);
    state_ text := coalesce(q->>'state', 'all');
    kind_ text := q->>'kind';
    lim integer := page_limit(args);
    after_ bigint := page_after_id(args);
    items jsonb;
    ids bigint[];
BEGIN
    IF state_ NOT IN ('open', 'acked', 'resolved', 'all') THEN
        PERFORM fail(400, 'bad_field', 'state must be open, acked, resolved or all', 'state');
    END IF;
    IF centre_ IS NOT NULL THEN
        PERFORM require_centre(ctx, centre_);
    END IF;
    SELECT jsonb_agg(alert_json(p.al) ORDER BY (p.al).id),
           (array_agg((p.al).resident ORDER BY (p.al).id))[1:lim]
      INTO items, ids
      FROM (SELECT al FROM alerts al
             WHERE (centre_ IS NULL OR al.centre = centre_)
               AND (visible IS NULL OR al.centre = ANY (visible))
               AND (kind_ IS NULL OR al.kind = kind_)
               AND CASE state_
                       WHEN 'open' THEN al.acked_at IS NULL AND al.resolved_at IS NULL
                       WHEN 'acked' THEN al.acked_at IS NOT NULL AND al.resolved_at IS NULL
                       WHEN 'resolved' THEN al.resolved_at IS NOT NULL
                       ELSE true END
               AND al.id > after_
             ORDER BY al.id
             LIMIT lim + 1) p;
    PERFORM audit_many(ctx, 'alert.list', ids);
    RETURN QUERY SELECT 200, page(items, lim);
END $$;

-- POST /v1/alerts/{id}/ack: records who and when; acknowledging twice is harmless (the first
-- acknowledgement stands and is answered again).
CREATE FUNCTION op_alert_ack(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := (ctx->>'now')::timestamptz;
    id_ text := args->'path'->>'id';
    a alerts;
BEGIN
    IF id_ IS NULL OR id_ !~ '^[0-9]{1,18}$' THEN
        PERFORM fail(404, 'not_found', 'no such alert', 'id');
    END IF;
    SELECT * INTO a FROM alerts WHERE id = id_::bigint FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', 'no such alert', 'id');
    END IF;
    PERFORM require_centre(ctx, a.centre);
    IF a.acked_at IS NULL THEN
        UPDATE alerts SET acked_at = now_, acked_by = ctx->>'cn' WHERE id = a.id
        RETURNING * INTO a;
        PERFORM due_cancel('alert_repeat', a.id);
        PERFORM due_cancel('alert_escalate', a.id);
        PERFORM alert_event_emit(a.id, 'acked', now_);
    END IF;
    IF a.resident IS NOT NULL THEN
        PERFORM audit(ctx, 'alert.ack', a.resident);
    END IF;
    RETURN QUERY SELECT 200, alert_json(a);
END $$;

-- GET /v1/centres/{id}/alerts/stream: authorises the watcher; the daemon then streams.
CREATE FUNCTION op_alert_stream_open(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    centre_ text := args->'path'->>'id';
BEGIN
    PERFORM require_centre(ctx, centre_);
    RETURN QUERY SELECT 200, jsonb_build_object('centre', centre_);
END $$;
