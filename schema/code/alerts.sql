-- On-call alerts (SPEC section 4): raising, announcing again, escalating, acknowledging and
-- resolving, the event log the SSE stream replays, the alert operations, and the turning-18
-- warnings to managers.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Alerts: raising, announcing, escalating, acknowledging, resolving
-- ---------------------------------------------------------------------------------------------

-- The alert's priority (SPEC section 4, v2), the one definition: its kind's, except that a
-- resident_absent alert whose absence has a concern or a known departure is urgent. Read when
-- asked, not stored: a concern raised later, or an admin's change of the kind, applies to the
-- open alert's next announcement.
CREATE FUNCTION alert_priority_of(p_alert bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN a.kind = 'resident_absent' AND EXISTS (
                         SELECT 1 FROM absences ab
                          WHERE ab.id = a.absence
                            AND (ab.concern IS NOT NULL OR ab.known_departure))
                    THEN 'urgent'
                ELSE coalesce(k.priority, 'normal') END
      FROM alerts a LEFT JOIN alert_kinds k ON k.kind = a.kind
     WHERE a.id = p_alert
$$;

-- Priorities in order, for "at or above": urgent 3, normal 2, info 1.
CREATE FUNCTION alert_priority_rank(p_priority text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_priority WHEN 'urgent' THEN 3 WHEN 'normal' THEN 2 WHEN 'info' THEN 1 END
$$;

-- How often an alert is announced again and when it is escalated; NULL: never. Info alerts
-- never; others by the centre's own times where set, else by the kind's (alert_kinds).
CREATE FUNCTION alert_timing(p_alert bigint)
RETURNS TABLE(repeat_every interval, escalate_after interval) LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN x.priority <> 'info'
                THEN make_interval(mins => coalesce(c.repeat_minutes, k.repeat_minutes)) END,
           CASE WHEN x.priority <> 'info'
                THEN make_interval(mins => coalesce(c.escalate_minutes, k.escalate_minutes)) END
      FROM alerts a
      JOIN centres c ON c.id = a.centre
      LEFT JOIN alert_kinds k ON k.kind = a.kind
     CROSS JOIN LATERAL (SELECT alert_priority_of(a.id) AS priority) x
     WHERE a.id = p_alert
$$;

CREATE FUNCTION alert_json(p_a alerts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_a.id, 'kind', p_a.kind, 'priority', alert_priority_of(p_a.id),
        'centre', p_a.centre, 'resident', p_a.resident,
        'absence', p_a.absence, 'raised_at', p_a.raised_at,
        'last_announced_at', p_a.last_announced_at,
        'acked_at', p_a.acked_at, 'acked_by', p_a.acked_by, 'escalated_at', p_a.escalated_at,
        'resolved_at', p_a.resolved_at, 'details', p_a.details)
$$;

-- Appends an event with each alert's current JSON (the arrays are parallel, in the order the
-- events happen), writes their deliveries to the centre's on-call channels (oncall.sql) and
-- tells every daemon's hub. The per-centre locks, held to commit, make seq order equal commit
-- order within a centre. Returns the new seqs.
CREATE FUNCTION alert_events_emit(p_alerts bigint[], p_kinds text[], p_now timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
    seqs bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rollcall.alert_events'), hashtext(x.centre))
       FROM (SELECT DISTINCT a.centre FROM alerts a
              WHERE a.id = ANY (p_alerts) ORDER BY a.centre) x;
    WITH ins AS (
        INSERT INTO alert_events (centre, alert, kind, at, body)
        SELECT a.centre, a.id, u.kind, p_now, alert_json(a)
          FROM unnest(p_alerts, p_kinds) WITH ORDINALITY AS u(alert, kind, ord)
          JOIN alerts a ON a.id = u.alert
         ORDER BY u.ord
        RETURNING alert_events.seq
    )
    SELECT array_agg(ins.seq ORDER BY ins.seq) INTO seqs FROM ins;
    IF seqs IS NULL THEN
        RETURN;
    END IF;
    PERFORM channel_enqueue(seqs, p_now);
    RETURN QUERY
    SELECT n.seq FROM (SELECT u.seq, pg_notify('rc_alert', u.seq::text)
                         FROM unnest(seqs) AS u(seq) ORDER BY u.seq) n;
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
    t record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM centres WHERE id = p_centre) THEN
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
    SELECT * INTO t FROM alert_timing(new_id);
    IF t.repeat_every IS NOT NULL THEN
        PERFORM due_schedule('alert_repeat', new_id, p_centre, p_now + t.repeat_every);
    END IF;
    IF t.escalate_after IS NOT NULL THEN
        PERFORM due_schedule('alert_escalate', new_id, p_centre, p_now + t.escalate_after);
    END IF;
    RETURN new_id;
END $$;

-- A concern or a known departure added to an open absence makes its resident_absent alert
-- urgent (alert_priority_of): an alert still unacknowledged is announced again at once, and
-- its next repeat counts from now. Callers call it only when the absence had neither before.
CREATE FUNCTION alert_absence_became_urgent(p_absence bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a alerts;
    t record;
BEGIN
    SELECT * INTO a FROM alerts
     WHERE absence = p_absence AND kind = 'resident_absent'
       AND acked_at IS NULL AND resolved_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE alerts SET last_announced_at = p_now, announcements = announcements + 1
     WHERE id = a.id;
    PERFORM alert_event_emit(a.id, 'reannounced', p_now);
    SELECT * INTO t FROM alert_timing(a.id);
    IF t.repeat_every IS NOT NULL THEN
        PERFORM due_schedule('alert_repeat', a.id, a.centre, p_now + t.repeat_every);
    END IF;
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
               t.repeat_every, t.escalate_after
          FROM alerts a CROSS JOIN LATERAL alert_timing(a.id) t
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
           array_agg(d.id ORDER BY d.id) FILTER (WHERE d.repeat_every IS NOT NULL),
           array_agg(d.centre ORDER BY d.id) FILTER (WHERE d.repeat_every IS NOT NULL),
           array_agg(CASE WHEN d.action IS NULL THEN d.last_announced_at ELSE p_now END
                     + d.repeat_every ORDER BY d.id) FILTER (WHERE d.repeat_every IS NOT NULL)
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

-- Due: escalate to managers alerts still unacknowledged escalate_after (alert_timing) after
-- they were raised. A row that fires early (the times were made longer since it was
-- scheduled) is scheduled again for the new instant; one whose alert is no longer escalated
-- (an info alert, or the time removed) does nothing.
CREATE FUNCTION due_alert_escalate_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    later_ids bigint[];
    later_centres text[];
    later_at timestamptz[];
BEGIN
    WITH live AS (
        SELECT a.id, a.centre, a.raised_at + t.escalate_after AS escalate_at
          FROM alerts a CROSS JOIN LATERAL alert_timing(a.id) t
         WHERE a.id = ANY (p_refs) AND a.acked_at IS NULL AND a.resolved_at IS NULL
           AND a.escalated_at IS NULL AND t.escalate_after IS NOT NULL
         ORDER BY a.id
           FOR UPDATE OF a
    ), escalated AS (
        UPDATE alerts a
           SET escalated_at = p_now, last_announced_at = p_now,
               announcements = a.announcements + 1
          FROM live
         WHERE a.id = live.id AND live.escalate_at <= p_now
        RETURNING a.id, a.centre
    )
    SELECT (SELECT array_agg(e.id ORDER BY e.centre, e.id) FROM escalated e),
           array_agg(l.id ORDER BY l.id) FILTER (WHERE l.escalate_at > p_now),
           array_agg(l.centre ORDER BY l.id) FILTER (WHERE l.escalate_at > p_now),
           array_agg(l.escalate_at ORDER BY l.id) FILTER (WHERE l.escalate_at > p_now)
      INTO ids, later_ids, later_centres, later_at
      FROM live l;
    IF ids IS NOT NULL THEN
        PERFORM alert_events_emit(ids, array_fill('escalated'::text, ARRAY[cardinality(ids)]),
                                  p_now);
    END IF;
    PERFORM due_schedule_many('alert_escalate', later_ids, later_centres, later_at);
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
    IF id_ ~ '^[0-9]{1,18}$' THEN
        SELECT * INTO a FROM alerts WHERE id = id_::bigint FOR UPDATE;
    END IF;
    PERFORM require_object(ctx, 'alert', id_, a.centre);
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
