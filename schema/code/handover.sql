-- The shift handover (SPEC section 4a, v2): the document the incoming shift gets at each of a
-- centre's check times (open absences, unacknowledged alerts, who the last round left
-- unaccounted for, notifications undelivered or unconfirmed, residents turning 18 within 30
-- days, residents without a current profile), GET /v1/centres/{id}/handover, and its push on
-- the centre's alert streams and e-mail channels, decided once per check time by the timing
-- engine (a `handover` due row per handovers row, schema/migrations/015_handover.sql).
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).
-- PL/pgSQL throughout: the functions it uses live in files applied after this one.

-- ---------------------------------------------------------------------------------------------
-- What the receipts and the missing-person profiles add, one function each
-- ---------------------------------------------------------------------------------------------

-- The receipt of one delivery to an authority ({"at","received_by","reference","recorded_by"},
-- receipts.sql's receipt_json), or NULL when none was recorded.
CREATE FUNCTION handover_receipt(p_delivery bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN nullif(receipt_json(p_delivery), 'null'::jsonb);
END $$;

-- Why a resident has no current missing-person profile at p_at: 'none' (no version stored),
-- 'no_photo', or 'photo_old' (taken more than 90 days before p_at's local date at the
-- resident's centre), or NULL when it is current (profile.sql holds the profiles).
CREATE FUNCTION handover_profile_gap(p_resident bigint, p_at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_taken date;
    v_zone text;
BEGIN
    IF NOT resident_has_profile(p_resident) THEN
        RETURN 'none';
    END IF;
    v_taken := resident_photo_taken_on(p_resident);
    IF v_taken IS NULL THEN
        RETURN 'no_photo';
    END IF;
    SELECT c.timezone INTO v_zone
    FROM stays s JOIN centres c ON c.id = s.centre
    WHERE s.resident = p_resident
    ORDER BY s.from_date DESC LIMIT 1;
    IF v_taken < (p_at AT TIME ZONE coalesce(v_zone, 'UTC'))::date - 90 THEN
        RETURN 'photo_old';
    END IF;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------------------------------------
-- The document
-- ---------------------------------------------------------------------------------------------

-- The handover of p_centre at p_at: the state of the records as they are now, with p_at
-- choosing the round (the latest scheduled before p_at), the windows (turning 18 within 30
-- days of p_at's local date, photos older than 90 days) and the ages of alerts.
CREATE FUNCTION handover_document(p_centre text, p_at timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c centres;
    today date;
    lr_day date;       -- the most recent round before the handover (none: NULLs)
    lr_slot integer;
    lr_at timestamptz;
    doc jsonb;
BEGIN
    SELECT * INTO c FROM centres WHERE id = p_centre;
    today := (p_at AT TIME ZONE c.timezone)::date;
    -- The most recent round before the handover: today's or yesterday's (a 07:00 handover's
    -- is the previous day's 23:00).
    SELECT r.day, r.slot, r.at INTO lr_day, lr_slot, lr_at
      FROM (SELECT d.day::date AS day, s.slot, round_scheduled_at(p_centre, d.day::date, s.slot) AS at
              FROM generate_series(today - 1, today, interval '1 day') AS d(day),
                   generate_series(1, 3) AS s(slot)) r
     WHERE r.at < p_at
     ORDER BY r.at DESC LIMIT 1;

    doc := jsonb_build_object(
        'centre', p_centre,
        'centre_name', c.name,
        'timezone', c.timezone,
        'at', p_at,
        'open_absences', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'absence', a.id, 'resident', r.id, 'case_number', r.case_number,
                       'given_name', r.given_name, 'family_name', r.family_name,
                       'since', a.since, 'opened_at', a.opened_at, 'reason', a.reason,
                       'known_departure', a.known_departure, 'concern', a.concern,
                       'notify_at', a.notify_at, 'notified_at', a.notified_at,
                       'authorities', coalesce((
                           SELECT jsonb_agg(jsonb_build_object(
                                      'authority', d.authority, 'event_id', d.event_id,
                                      'type', d.type, 'due_at', d.due_at,
                                      'delivered_at', d.delivered_at, 'attempts', d.attempts,
                                      'last_error', d.last_error,
                                      'state', delivery_state(d, p_at),
                                      'receipt', handover_receipt(d.id))
                                  ORDER BY d.authority, d.id)
                             FROM deliveries d
                            WHERE d.absence = a.id AND d.type = 'absence.reported'), '[]'))
                   ORDER BY a.since, a.id)
              FROM absences a JOIN residents r ON r.id = a.resident
             WHERE a.centre = p_centre AND a.returned_at IS NULL), '[]'),
        'open_alerts', coalesce((
            SELECT jsonb_agg(x.item ORDER BY x.rank DESC, x.raised_at, x.id)
              FROM (SELECT al.id, al.raised_at, alert_priority_rank(alert_priority_of(al.id)) AS rank,
                           jsonb_build_object(
                               'alert', al.id, 'kind', al.kind,
                               'priority', alert_priority_of(al.id),
                               'raised_at', al.raised_at,
                               'last_announced_at', al.last_announced_at,
                               'escalated_at', al.escalated_at,
                               'age_minutes', greatest(0, floor(extract(epoch FROM p_at - al.raised_at) / 60))::bigint,
                               'resident', al.resident, 'case_number', r.case_number,
                               'given_name', r.given_name, 'family_name', r.family_name,
                               'absence', al.absence, 'details', al.details) AS item
                      FROM alerts al LEFT JOIN residents r ON r.id = al.resident
                     WHERE al.centre = p_centre AND al.acked_at IS NULL
                       AND al.resolved_at IS NULL AND al.raised_at <= p_at) x), '[]'),
        'last_round', CASE WHEN lr_day IS NOT NULL THEN jsonb_build_object(
                           'date', lr_day, 'slot', lr_slot,
                           'scheduled_at', lr_at) END,
        'unaccounted', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'resident', r.id, 'case_number', r.case_number,
                       'given_name', r.given_name, 'family_name', r.family_name,
                       'date', lr_day, 'slot', lr_slot,
                       'scheduled_at', lr_at)
                   ORDER BY r.family_name, r.given_name, r.id)
              FROM unnest(CASE WHEN lr_day IS NULL THEN '{}'::bigint[]
                               ELSE round_unaccounted(p_centre, lr_day,
                                                      lr_slot) END) AS u(id)
              JOIN residents r ON r.id = u.id), '[]'),
        'notifications', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'event_id', d.event_id, 'type', d.type, 'authority', d.authority,
                       'absence', d.absence, 'resident', r.id, 'case_number', r.case_number,
                       'given_name', r.given_name, 'family_name', r.family_name,
                       'due_at', d.due_at, 'delivered_at', d.delivered_at,
                       'attempts', d.attempts, 'last_error', d.last_error,
                       'state', CASE WHEN d.delivered_at IS NULL THEN 'undelivered'
                                     ELSE 'unconfirmed' END,
                       'receipt', handover_receipt(d.id))
                   ORDER BY d.due_at, d.id)
              FROM deliveries d
              JOIN outbox o ON o.id = d.outbox
              LEFT JOIN residents r ON r.id = o.resident
              LEFT JOIN absences a ON a.id = d.absence
             WHERE d.centre = p_centre AND d.due_at <= p_at
               AND (d.delivered_at IS NULL
                    -- A report of a child still missing that no person has confirmed.
                    OR (d.type = 'absence.reported' AND a.returned_at IS NULL
                        AND handover_receipt(d.id) IS NULL))), '[]'),
        'turning_18', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'resident', r.id, 'case_number', r.case_number,
                       'given_name', r.given_name, 'family_name', r.family_name,
                       'date_of_birth', r.date_of_birth,
                       'turns_18_on', (r.date_of_birth + interval '18 years')::date,
                       'days_left', (r.date_of_birth + interval '18 years')::date - today)
                   ORDER BY r.date_of_birth, r.id)
              FROM round_expected(p_centre, today) AS e(id)
              JOIN residents r ON r.id = e.id
             WHERE (r.date_of_birth + interval '18 years')::date BETWEEN today AND today + 30),
            '[]'),
        'without_profile', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'resident', r.id, 'case_number', r.case_number,
                       'given_name', r.given_name, 'family_name', r.family_name,
                       'missing', g.gap)
                   ORDER BY r.family_name, r.given_name, r.id)
              FROM round_expected(p_centre, today) AS e(id)
              JOIN residents r ON r.id = e.id
             CROSS JOIN LATERAL (SELECT handover_profile_gap(r.id, p_at) AS gap) g
             WHERE g.gap IS NOT NULL), '[]'));
    RETURN doc;
END $$;

-- The residents a document names, for the audit (a read of their data).
CREATE FUNCTION handover_residents(p_doc jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ARRAY(
        SELECT DISTINCT (item->>'resident')::bigint
          FROM jsonb_each(p_doc) AS s(key, list)
         CROSS JOIN LATERAL jsonb_array_elements(
                  CASE WHEN jsonb_typeof(s.list) = 'array' THEN s.list ELSE '[]' END) AS item
         WHERE item->>'resident' IS NOT NULL
         ORDER BY 1);
END $$;

-- GET /v1/centres/{id}/handover?at=INSTANT (default now): staff+ of the centre.
CREATE FUNCTION op_handover_get(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    centre_ text := args->'path'->>'id';
    at_ timestamptz := coalesce(arg_instant(args->'query'->>'at', 'at'), ctx_now(ctx));
    doc jsonb;
BEGIN
    PERFORM require_centre(ctx, centre_);
    doc := handover_document(centre_, at_);
    PERFORM audit_many(ctx, 'handover.get', handover_residents(doc));
    RETURN QUERY SELECT 200, doc;
END $$;

-- ---------------------------------------------------------------------------------------------
-- The e-mail
-- ---------------------------------------------------------------------------------------------

-- One line per item, in the centre's local time; names are left out as in alert e-mails
-- (oncall_mail): the case number finds the resident, and an e-mail may be read on a shared
-- phone.
CREATE FUNCTION handover_mail(p_doc jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tz text := p_doc->>'timezone';
    lines text[];
    item jsonb;
BEGIN
    lines := ARRAY[
        format('Shift handover at %s (%s), %s', p_doc->>'centre_name', p_doc->>'centre',
               oncall_local((p_doc->>'at')::timestamptz, tz)),
        'Times are local (' || tz || ').', '',
        format('Open absences: %s', jsonb_array_length(p_doc->'open_absences'))];
    FOR item IN SELECT * FROM jsonb_array_elements(p_doc->'open_absences') LOOP
        lines := lines || format('- case %s: away since %s, %s; authorities %s%s',
            item->>'case_number', oncall_local((item->>'since')::timestamptz, tz),
            replace(item->>'reason', '_', ' '),
            CASE WHEN item->>'notified_at' IS NOT NULL
                 THEN 'notified ' || oncall_local((item->>'notified_at')::timestamptz, tz)
                 ELSE 'to be notified ' || oncall_local((item->>'notify_at')::timestamptz, tz) END,
            coalesce((SELECT '; ' || string_agg(format('%s %s', au->>'authority', au->>'state'), ', ')
                        FROM jsonb_array_elements(item->'authorities') au), ''));
    END LOOP;
    lines := lines || ''::text || format('Unacknowledged alerts: %s',
                                         jsonb_array_length(p_doc->'open_alerts'));
    FOR item IN SELECT * FROM jsonb_array_elements(p_doc->'open_alerts') LOOP
        lines := lines || format('- %s %s%s, %s min old (rollcall ack %s)',
            upper(item->>'priority'), replace(item->>'kind', '_', ' '),
            CASE WHEN item->>'case_number' IS NOT NULL THEN ', case ' || (item->>'case_number')
                 ELSE '' END,
            item->>'age_minutes', item->>'alert');
    END LOOP;
    lines := lines || ''::text || format('Not accounted for in the last round%s: %s',
        CASE WHEN p_doc->'last_round' <> 'null'::jsonb
             THEN format(' (%s, round %s)', p_doc->'last_round'->>'date',
                         p_doc->'last_round'->>'slot') ELSE '' END,
        jsonb_array_length(p_doc->'unaccounted'));
    FOR item IN SELECT * FROM jsonb_array_elements(p_doc->'unaccounted') LOOP
        lines := lines || ('- case ' || (item->>'case_number'));
    END LOOP;
    lines := lines || ''::text || format('Notifications undelivered or unconfirmed: %s',
                                         jsonb_array_length(p_doc->'notifications'));
    FOR item IN SELECT * FROM jsonb_array_elements(p_doc->'notifications') LOOP
        lines := lines || format('- %s to %s, case %s: %s%s', item->>'type', item->>'authority',
            coalesce(item->>'case_number', '-'), item->>'state',
            CASE WHEN item->>'last_error' IS NOT NULL THEN ' (' || (item->>'last_error') || ')'
                 ELSE '' END);
    END LOOP;
    lines := lines || ''::text || format('Turning 18 within 30 days: %s',
                                         jsonb_array_length(p_doc->'turning_18'));
    FOR item IN SELECT * FROM jsonb_array_elements(p_doc->'turning_18') LOOP
        lines := lines || format('- case %s on %s', item->>'case_number', item->>'turns_18_on');
    END LOOP;
    lines := lines || ''::text || format('Without a current missing-person profile: %s',
                                         jsonb_array_length(p_doc->'without_profile'));
    lines := lines || ''::text
             || format('Details: rollcall handover --centre %s', p_doc->>'centre') || ''::text;
    RETURN jsonb_build_object(
        'subject', format('[HANDOVER] %s %s: %s away, %s alerts open, %s unaccounted',
                          p_doc->>'centre_name', oncall_local((p_doc->>'at')::timestamptz, tz),
                          jsonb_array_length(p_doc->'open_absences'),
                          jsonb_array_length(p_doc->'open_alerts'),
                          jsonb_array_length(p_doc->'unaccounted')),
        'text', array_to_string(lines, E'\n'));
END $$;

-- ---------------------------------------------------------------------------------------------
-- Scheduling: a handovers row and its due row beside every round deadline
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION round_deadlines_add_handover() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO handovers (centre, date, slot, at)
    VALUES (NEW.centre, NEW.date, NEW.slot, NEW.scheduled_at)
    ON CONFLICT (centre, date, slot) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
        PERFORM due_schedule('handover', new_id, NEW.centre, NEW.scheduled_at);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER round_deadlines_add_handover AFTER INSERT ON round_deadlines
    FOR EACH ROW EXECUTE FUNCTION round_deadlines_add_handover();

-- Check times or time zone changed (centres_reschedule_rounds): a handover not yet sent moves.
CREATE FUNCTION round_deadlines_move_handover() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
BEGIN
    UPDATE handovers h SET at = NEW.scheduled_at
     WHERE h.centre = NEW.centre AND h.date = NEW.date AND h.slot = NEW.slot
       AND h.sent_at IS NULL
    RETURNING h.id INTO moved;
    IF moved IS NOT NULL THEN
        PERFORM due_cancel('handover', moved);
        PERFORM due_schedule('handover', moved, NEW.centre, NEW.scheduled_at);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER round_deadlines_move_handover AFTER UPDATE ON round_deadlines
    FOR EACH ROW WHEN (OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at)
    EXECUTE FUNCTION round_deadlines_move_handover();

-- ---------------------------------------------------------------------------------------------
-- Due: the check time has come
-- ---------------------------------------------------------------------------------------------

-- Pushes the document on the centre's streams (an alert event of kind handover, which a
-- reconnect with Last-Event-ID replays) and mails it to every e-mail channel of the centre
-- whatever its min_priority (channel deliveries: retries, backoff and the failing alert as an
-- alert's). Once: sent_at is set in this transaction, and the due row is gone with it. A
-- handover whose next check time has passed too (the daemon was down, or the test clock
-- jumped) is superseded by that one and sends nothing: the incoming shift needs the latest.
CREATE FUNCTION due_handover(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h handovers;
    doc jsonb;
    seq_ bigint;
    failing_after interval;
    ids bigint[];
BEGIN
    SELECT * INTO h FROM handovers WHERE id = p_ref FOR UPDATE;
    IF NOT FOUND OR h.sent_at IS NOT NULL OR h.at > p_now THEN
        RETURN; -- sent already, or moved later (a newer due row stands)
    END IF;
    IF EXISTS (SELECT 1 FROM handovers n
                WHERE n.centre = h.centre AND n.at > h.at AND n.at <= p_now) THEN
        UPDATE handovers SET sent_at = p_now, superseded = true WHERE id = h.id;
        RETURN;
    END IF;
    doc := handover_document(h.centre, h.at);
    -- The centre's alert lock, held to commit, keeps seq order equal to commit order
    -- (alert_events_emit).
    PERFORM pg_advisory_xact_lock(hashtext('rollcall.alert_events'), hashtext(h.centre));
    INSERT INTO alert_events (centre, alert, kind, at, body)
    VALUES (h.centre, NULL, 'handover', p_now, doc)
    RETURNING seq INTO seq_;
    UPDATE handovers SET sent_at = p_now, alert_event = seq_ WHERE id = h.id;

    SELECT s.failing_after INTO failing_after FROM notification_settings s;
    WITH ins AS (
        INSERT INTO channel_deliveries (event_id, channel, centre, alert, alert_event, type,
                                        payload, due_at, next_attempt_at)
        SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), ch.id, h.centre, NULL,
               seq_, 'handover', handover_mail(doc), p_now, p_now
          FROM oncall_channels ch
         WHERE ch.centre = h.centre AND ch.removed_at IS NULL AND ch.kind = 'email'
         ORDER BY ch.position
        ON CONFLICT DO NOTHING
        RETURNING channel_deliveries.id
    )
    SELECT array_agg(ins.id ORDER BY ins.id) INTO ids FROM ins;
    IF ids IS NOT NULL THEN
        PERFORM due_schedule_many('channel_check', ids,
                                  array_fill(h.centre, ARRAY[cardinality(ids)]),
                                  array_fill(p_now + coalesce(failing_after,
                                                              interval '15 minutes'),
                                             ARRAY[cardinality(ids)]));
        PERFORM pg_notify('rc_outbox', '');
    END IF;
    PERFORM pg_notify('rc_alert', seq_::text);
END $$;

-- ---------------------------------------------------------------------------------------------
-- Retention (export.sql, resident_anonymise): what a stored handover says of one resident
-- ---------------------------------------------------------------------------------------------

-- The document with the resident's items scrubbed (names, case number, concern texts), as
-- retention_scrub does for alert events.
CREATE FUNCTION handover_scrub(p_doc jsonb, p_resident bigint) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    key_ text;
    out_ jsonb := p_doc;
BEGIN
    FOR key_ IN SELECT k FROM jsonb_object_keys(p_doc) AS k
                 WHERE jsonb_typeof(p_doc->k) = 'array' LOOP
        out_ := jsonb_set(out_, ARRAY[key_], coalesce((
            SELECT jsonb_agg(CASE WHEN (item->>'resident')::bigint = p_resident
                                  THEN retention_scrub(item, p_resident) ELSE item END
                             ORDER BY i)
              FROM jsonb_array_elements(p_doc->key_) WITH ORDINALITY AS t(item, i)), '[]'));
    END LOOP;
    RETURN out_;
END $$;

-- Scrubs the stored handovers that name the resident and empties their e-mails' bodies.
CREATE FUNCTION handover_anonymise(p_resident bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE channel_deliveries d SET payload = '{}'
      FROM alert_events e
     WHERE e.seq = d.alert_event AND e.kind = 'handover'
       AND p_resident = ANY (handover_residents(e.body));
    UPDATE alert_events e SET body = handover_scrub(e.body, p_resident)
     WHERE e.kind = 'handover' AND p_resident = ANY (handover_residents(e.body));
END $$;
