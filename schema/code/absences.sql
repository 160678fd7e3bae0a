-- Absences and their reporting rules (SPEC section 3): opening, planning the notification by
-- the threshold rules in force, notifying, closing, and the absence operations.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

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

-- The last instant a resident was accounted for at or before p_at: the latest present or
-- excused observation (its observed_at; current observations only, as every rule reads them:
-- an earlier one superseded in its round, by a correction or by a later observation from
-- another terminal, is history), the latest return from an earlier absence, the resident's
-- accounted_for_at (go-live), or the start (local midnight) of the arrival day at the centre,
-- whichever is latest.
CREATE FUNCTION absence_accounted_since(p_resident bigint, p_centre text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT greatest(
        (SELECT max(o.observed_at) FROM observations o
          WHERE o.resident = p_resident AND o.current
            AND o.status IN ('present', 'excused') AND o.observed_at <= p_at),
        (SELECT max(a.returned_at) FROM absences a
          WHERE a.resident = p_resident AND a.returned_at <= p_at),
        (SELECT r.accounted_for_at FROM residents r
          WHERE r.id = p_resident AND r.accounted_for_at <= p_at),
        (SELECT local_instant(s.from_date::timestamp, c.timezone)
           FROM stays s JOIN centres c ON c.id = s.centre
          WHERE s.resident = p_resident AND s.centre = p_centre
            AND s.from_date <= (p_at AT TIME ZONE c.timezone)::date
          ORDER BY s.from_date DESC, s.id DESC
          LIMIT 1))
$$;

-- Whether the resident was accounted for after p_at: a current present or excused observation
-- observed later, the return from an absence later, or a later accounted_for_at. What is known
-- later wins over an absent observed at p_at (absence_observe).
CREATE FUNCTION absence_accounted_after(p_resident bigint, p_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM observations o
                    WHERE o.resident = p_resident AND o.current
                      AND o.status IN ('present', 'excused') AND o.observed_at > p_at)
        OR EXISTS (SELECT 1 FROM absences a
                    WHERE a.resident = p_resident AND a.returned_at > p_at)
        OR EXISTS (SELECT 1 FROM residents r
                    WHERE r.id = p_resident AND r.accounted_for_at > p_at)
$$;

CREATE FUNCTION absence_json(p_a absences) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_a.id, 'resident', p_a.resident, 'centre', p_a.centre, 'since', p_a.since,
        'opened_at', p_a.opened_at, 'opened_by', p_a.opened_by, 'notify_at', p_a.notify_at,
        'reason', p_a.reason, 'known_departure', p_a.known_departure, 'concern', p_a.concern,
        'notified_at', p_a.notified_at, 'returned_at', p_a.returned_at, 'note', p_a.note,
        'age_at_since', p_a.age_at_since, 'recipients', to_jsonb(p_a.recipients))
$$;

-- The webhook body of SPEC section 10 without event_id (the outbox adds it per authority),
-- from the rows (a plain expression, so that a query over many absences inlines it).
CREATE FUNCTION absence_payload_json(p_a absences, p_c centres, p_r residents, p_type text,
                                     p_reason text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'type', p_type,
        'absence', p_a.id,
        'centre', jsonb_build_object('id', p_c.id, 'name', p_c.name, 'operator', p_c.operator),
        'resident', jsonb_build_object(
            'case_number', p_r.case_number, 'given_name', p_r.given_name,
            'family_name', p_r.family_name, 'date_of_birth', p_r.date_of_birth,
            'age', p_a.age_at_since),
        'since', p_a.since,
        'reason', p_reason,
        'concern', p_a.concern,
        'returned_at', p_a.returned_at)
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
CREATE FUNCTION absence_plan(p_a absences, p_now timestamptz) RETURNS absences
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tz text;
    since_date date;
    rule threshold_rules;
    family text;
BEGIN
    SELECT timezone INTO tz FROM centres WHERE id = p_a.centre;
    since_date := (p_a.since AT TIME ZONE tz)::date;
    p_a.age_at_since := age_years((SELECT date_of_birth FROM residents WHERE id = p_a.resident),
                                since_date);
    family := CASE WHEN p_a.concern IS NOT NULL THEN 'concern'
                   WHEN p_a.known_departure THEN 'known_departure'
                   ELSE 'threshold' END;
    rule := threshold_rule_for(family, p_a.age_at_since, since_date);
    IF rule.id IS NULL THEN
        RAISE WARNING 'no % rule for age % on %: notifying at once', family, p_a.age_at_since,
            since_date;
        p_a.rule := NULL;
        p_a.reason := CASE family WHEN 'threshold' THEN 'threshold_12h' ELSE family END;
        p_a.recipients := ARRAY['municipality', 'police', 'immigration'];
        p_a.notify_at := p_now;
        RETURN p_a;
    END IF;
    p_a.rule := rule.id;
    p_a.reason := rule.reason;
    p_a.recipients := rule.recipients;
    -- At once for a concern or a known departure (hours = 0), and when the threshold instant
    -- has already passed.
    p_a.notify_at := greatest(p_now, p_a.since + make_interval(hours => rule.hours));
    RETURN p_a;
END $$;

-- Records the decision to notify the authorities of absences, each for its reason and to its
-- recipients: the outbox rows are written in this transaction, so the decision and the
-- deliveries commit together. They are written in the order of p_absences (the timing engine
-- passes them in due order), so that after a backlog (a restart, the test clock moved by days)
-- the authorities receive them in the order they fell due, not in the order of reporting.
CREATE FUNCTION absence_notify_many(p_absences bigint[], p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    items outbox_item[];
BEGIN
    SELECT array_agg(ROW(a.centre, 'absence.reported',
                         absence_payload_json(a, c, r, 'absence.reported', a.reason),
                         a.recipients, p_now, a.id, a.resident)::outbox_item
                     ORDER BY u.ord, a.id)
      INTO items
      FROM (SELECT id, min(ord) AS ord FROM unnest(p_absences) WITH ORDINALITY AS x(id, ord)
             GROUP BY id) u
      JOIN absences a ON a.id = u.id
      JOIN centres c ON c.id = a.centre
      JOIN residents r ON r.id = a.resident;
    IF items IS NULL THEN
        RETURN;
    END IF;
    PERFORM outbox_enqueue_many(items, p_now);
    UPDATE absences SET notified_at = coalesce(notified_at, p_now) WHERE id = ANY (p_absences);
    PERFORM due_cancel_many('absence_notify', p_absences);
END $$;

-- Stores a new or re-planned notify instant: at once now, or a due row for later.
CREATE FUNCTION absence_apply_plan(p_a absences, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE absences
       SET notify_at = p_a.notify_at, reason = p_a.reason, recipients = p_a.recipients,
           rule = p_a.rule, age_at_since = p_a.age_at_since
     WHERE id = p_a.id;
    IF p_a.notify_at <= p_now THEN
        PERFORM absence_notify_many(ARRAY[p_a.id], p_now);
    ELSE
        PERFORM due_schedule('absence_notify', p_a.id, p_a.centre, p_a.notify_at);
    END IF;
END $$;

-- Opens an absence (the caller has checked there is none open and holds whatever lock the
-- insert needs). Returns the new id, or NULL when a concurrent transaction opened one first.
-- p_observed_at is the instant of the absent observation that opens it (SPEC section 2, v2),
-- NULL for a report (then: now). The absence opens then and its rules run then (notify_at is
-- planned from it); what falls due by now is done now, and the alert is raised now, naming
-- the observed_at.
CREATE FUNCTION absence_open(p_resident bigint, p_centre text, p_since timestamptz,
                             p_round_at timestamptz, p_known_departure boolean,
                             p_concern text, p_note text, p_cn text, p_now timestamptz,
                             p_observed_at timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a absences;
    opened timestamptz := coalesce(p_observed_at, p_now);
BEGIN
    a.resident := p_resident;
    a.centre := p_centre;
    a.since := coalesce(p_since, opened);
    a.known_departure := coalesce(p_known_departure, false);
    a.concern := p_concern;
    a := absence_plan(a, opened);
    INSERT INTO absences (resident, centre, since, opened_at, opened_by, opened_round_at,
                          age_at_since, rule, notify_at, reason, recipients, known_departure,
                          concern, concern_at, concern_by, note)
    VALUES (a.resident, a.centre, a.since, opened, p_cn, p_round_at, a.age_at_since, a.rule,
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
                                           'opened_by_round', p_round_at IS NOT NULL)
                        || CASE WHEN p_observed_at IS NULL THEN '{}'::jsonb
                                ELSE jsonb_build_object('observed_at', p_observed_at) END,
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
    was_plain boolean;
BEGIN
    SELECT x.concern IS NULL AND NOT x.known_departure INTO was_plain
      FROM absences x WHERE x.id = p_absence;
    UPDATE absences
       SET concern = CASE WHEN concern IS NULL THEN p_text ELSE concern || E'\n' || p_text END,
           concern_at = coalesce(concern_at, p_now),
           concern_by = coalesce(concern_by, p_cn)
     WHERE id = p_absence
    RETURNING * INTO a;
    IF was_plain THEN
        PERFORM alert_absence_became_urgent(a.id, p_now);
    END IF;
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
    was_plain boolean;
BEGIN
    SELECT x.concern IS NULL AND NOT x.known_departure INTO was_plain
      FROM absences x WHERE x.id = p_absence;
    UPDATE absences SET known_departure = true WHERE id = p_absence RETURNING * INTO a;
    IF was_plain THEN
        PERFORM alert_absence_became_urgent(a.id, p_now);
    END IF;
    IF a.notified_at IS NULL AND a.concern IS NULL THEN
        a := absence_plan(a, p_now);
        PERFORM absence_apply_plan(a, p_now);
    END IF;
END $$;

-- Closes an absence: the resident is back at p_returned_at. Its alerts stop repeating, on-call
-- staff get resident_returned, and only if the authorities were notified does each get
-- absence.returned (otherwise nobody outside the centre hears of it). p_observed_at: the
-- present observation that closes it, named in the alert (NULL for a reported return).
CREATE FUNCTION absence_close(p_absence bigint, p_returned_at timestamptz, p_cn text,
                              p_now timestamptz, p_observed_at timestamptz DEFAULT NULL)
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
                                           'authorities_notified', a.notified_at IS NOT NULL)
                        || CASE WHEN p_observed_at IS NULL THEN '{}'::jsonb
                                ELSE jsonb_build_object('observed_at', p_observed_at) END,
                        p_now);
    IF a.notified_at IS NOT NULL THEN
        PERFORM outbox_enqueue(a.centre, 'absence.returned',
                               absence_payload(a.id, 'absence.returned', a.reason),
                               a.recipients, p_now, a.id, p_now);
    END IF;
END $$;

-- Contract with the rounds (op_round_post calls it for every observation that becomes current
-- in its round, in the order sent; an observation observed before the current one of its
-- round is history and does not come here). Everything runs at p_observed_at, the instant
-- staff made the observation (SPEC section 2, v2), while alerts and notifications that fall
-- due by now go out now:
--   absent   opens an absence (opened_at = observed_at, since the last instant accounted for
--            up to then), or adds to the open one; but opens nothing when the resident has
--            been accounted for after observed_at (a later present or excused observation in
--            another round, a return, accounted_for_at): an offline terminal's night round
--            synced after the morning check must not report a child who is back;
--   present  closes the open absence at observed_at, if that is later than since; a present
--            observation made before the absence was opened, in another round than the one
--            that opened it (an earlier round entered late), only shows the resident was
--            accounted for later than thought: since moves there and the notification is
--            re-planned if it has not been made yet;
--   excused  does nothing to an open absence.
CREATE FUNCTION absence_observe(ctx jsonb, p_resident bigint, p_status text,
                                p_round_at timestamptz, p_observed_at timestamptz)
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
        IF absence_accounted_after(p_resident, p_observed_at) THEN
            RETURN;
        END IF;
        centre_ := coalesce(resident_centre_at(p_resident, p_round_at),
                            resident_centre_at(p_resident, now_));
        IF centre_ IS NULL THEN
            RAISE EXCEPTION 'absence_observe: resident % is not enrolled on %', p_resident,
                p_round_at;
        END IF;
        IF absence_open(p_resident, centre_,
                        absence_accounted_since(p_resident, centre_, p_observed_at),
                        p_round_at, false, NULL, NULL, cn, now_, p_observed_at) IS NULL THEN
            -- A concurrent report opened it between our look and our insert: add to it.
            UPDATE absences SET reports = reports + 1
             WHERE resident = p_resident AND returned_at IS NULL;
        END IF;
    ELSIF p_status = 'present' THEN
        IF a.id IS NULL OR p_observed_at <= a.since THEN
            RETURN;
        END IF;
        IF p_observed_at < a.opened_at AND a.opened_round_at IS DISTINCT FROM p_round_at THEN
            UPDATE absences SET since = p_observed_at WHERE id = a.id RETURNING * INTO a;
            IF a.notified_at IS NULL THEN
                a := absence_plan(a, now_);
                PERFORM absence_apply_plan(a, now_);
            END IF;
            RETURN;
        END IF;
        PERFORM absence_close(a.id, p_observed_at, cn, now_, p_observed_at);
    END IF;
END $$;

-- Due: notify the authorities of absences whose threshold has come. Stale rows (the absence
-- closed, already notified, or re-planned to a later instant) do nothing.
CREATE FUNCTION due_absence_notify_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    -- Locked in id order (no deadlock with another batch), notified in due order.
    SELECT array_agg(x.id ORDER BY x.notify_at, x.id) INTO ids FROM (
        SELECT a.id, a.notify_at FROM absences a
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
-- API operations (called by api(), see DESIGN.md)
-- ---------------------------------------------------------------------------------------------

-- The absence as stored, or 404.
CREATE FUNCTION absence_find(ctx jsonb, p_id text) RETURNS absences LANGUAGE plpgsql AS $$
DECLARE
    a absences;
BEGIN
    IF p_id ~ '^[0-9]{1,18}$' THEN
        SELECT * INTO a FROM absences WHERE id = p_id::bigint FOR UPDATE;
    END IF;
    PERFORM require_object(ctx, 'absence', p_id, a.centre);
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
    IF (args->'path'->>'id') ~ '^[0-9]{1,18}$' THEN
        SELECT * INTO a FROM absences WHERE id = (args->'path'->>'id')::bigint;
    END IF;
    PERFORM require_object(ctx, 'absence', args->'path'->>'id', a.centre);
    PERFORM audit(ctx, 'absence.read', a.resident);
    RETURN QUERY SELECT 200, absence_json(a);
END $$;

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
    a absences := absence_find(ctx, args->'path'->>'id');
BEGIN
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
    a absences := absence_find(ctx, args->'path'->>'id');
BEGIN
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
