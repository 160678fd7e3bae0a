-- The resident's full record (GET /v1/residents/{id}/export): one export_section_<name>
-- function per section, assembled by op_resident_export.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Sections
-- ---------------------------------------------------------------------------------------------

-- GET /v1/residents/{id}/export: every section function `export_section_<name>(p_resident
-- bigint) RETURNS jsonb`, or `(p_resident bigint, p_now timestamptz)` for a section that shows a
-- state on the clock, contributes "<name>". The export is everything the system keeps about the
-- resident: a table about residents gets its section by one more such function (here, or in
-- its concern's file); nothing else changes.
CREATE FUNCTION export_section_resident(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', r.id, 'case_number', r.case_number,
                              'given_name', r.given_name, 'family_name', r.family_name,
                              'date_of_birth', r.date_of_birth, 'created_at', r.created_at,
                              'anonymised_at', r.anonymised_at)
    FROM residents r WHERE r.id = $1
$$;

CREATE FUNCTION export_section_date_of_birth_history(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT resident_dob_history_json($1) $$;

CREATE FUNCTION export_section_stays(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT resident_stays_json($1) $$;

CREATE FUNCTION export_section_phases(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT resident_phases_json($1) $$;

CREATE FUNCTION export_section_observations(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', o.id, 'centre', o.centre, 'date', o.date, 'slot', o.slot,
               'status', o.status, 'reason', o.reason, 'note', o.note, 'round_at', o.round_at,
               'observed_at', o.observed_at, 'recorded_at', o.recorded_at, 'recorded_by', o.recorded_by,
               'current', o.current) ORDER BY o.round_at, o.id), '[]'::jsonb)
    FROM observations o WHERE o.resident = $1
$$;

-- Who read or changed the record, and when: part of what the resident may ask to see.
CREATE FUNCTION export_section_audit(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', a.id, 'at', a.at, 'cn', a.cn, 'role', a.role, 'action', a.action,
               'outcome', a.outcome) ORDER BY a.id), '[]'::jsonb)
    FROM audit a WHERE a.resident = $1
$$;

CREATE FUNCTION op_resident_export(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    result jsonb;
    section record;
    value jsonb;
BEGIN
    -- The export's own audit row comes first so that the audit section includes it.
    PERFORM audit(ctx, 'resident_export', r.id);
    result := jsonb_build_object('exported_at', ctx->'now', 'exported_by', ctx->>'cn');
    FOR section IN
        SELECT p.proname::text AS name, p.pronargs AS nargs FROM pg_proc p
        WHERE p.proname LIKE 'export\_section\_%' AND pg_function_is_visible(p.oid)
          AND p.proargtypes[0] = 'bigint'::regtype
          AND (p.pronargs = 1 OR (p.pronargs = 2 AND p.proargtypes[1] = 'timestamptz'::regtype))
        ORDER BY p.proname
    LOOP
        IF section.nargs = 1 THEN
            EXECUTE format('SELECT %I($1)', section.name) INTO value USING r.id;
        ELSE
            EXECUTE format('SELECT %I($1, $2)', section.name) INTO value USING r.id, ctx_now(ctx);
        END IF;
        result := result || jsonb_build_object(substr(section.name, 16), value);
    END LOOP;
    RETURN QUERY SELECT 200, result;
END $$;

-- ---------------------------------------------------------------------------------------------
-- The resident's full record (GET /v1/residents/{id}/export)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION export_section_sanctions(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(sanction_json(s) ORDER BY s.id), '[]'::jsonb)
    FROM sanctions s WHERE s.resident = $1
$$;

CREATE FUNCTION export_section_agreements(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(agreement_json(a) ORDER BY a.id), '[]'::jsonb)
    FROM agreements a WHERE a.resident = $1
$$;

CREATE FUNCTION export_section_payouts(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(payout_json(p) ORDER BY p.id), '[]'::jsonb)
    FROM payouts p WHERE p.resident = $1
$$;

-- Absences as stored, with their notes, concern texts and who opened, noted and closed them.
CREATE FUNCTION export_section_absences(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.id), '[]'::jsonb)
    FROM absences a WHERE a.resident = p_resident
$$;

-- Every notification sent to an authority about the resident (absences, incidents, sanctions):
-- what was sent, and each authority's delivery with its attempts and last error.
CREATE FUNCTION export_section_notifications(p_resident bigint, p_now timestamptz)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', o.id, 'type', o.type, 'centre', o.centre, 'absence', o.absence,
               'due_at', o.due_at, 'created_at', o.created_at, 'payload', o.payload,
               'deliveries', (SELECT coalesce(jsonb_agg(delivery_json(d, p_now) ORDER BY d.id),
                                              '[]'::jsonb)
                                FROM deliveries d WHERE d.outbox = o.id))
               ORDER BY o.id), '[]'::jsonb)
    FROM outbox o WHERE o.resident = p_resident
$$;

CREATE FUNCTION export_section_incidents(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(i) ORDER BY i.id), '[]'::jsonb)
    FROM incidents i WHERE i.resident = p_resident
$$;

-- Alerts about the resident: their own, and the overdue rounds that named them as missing.
CREATE FUNCTION export_section_alerts(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(alert_json(a) ORDER BY a.id), '[]'::jsonb)
    FROM alerts a
    WHERE a.resident = p_resident OR a.details->'missing' @> to_jsonb(p_resident)
$$;

-- ---------------------------------------------------------------------------------------------
-- Retention (SPEC section 7): ten years after the departure, the record is anonymised
-- ---------------------------------------------------------------------------------------------

-- The rule: a record is anonymised at 03:00 local time of the resident's last centre (its time
-- zone p_timezone) on the date ten years after the departure date p_to_date (a departure on 29
-- February: 28 February). NULL for no departure.
CREATE FUNCTION retention_instant(p_to_date date, p_timezone text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT local_instant((p_to_date + interval '10 years')::date + time '03:00', p_timezone)
$$;

-- The resident's latest stay with its centre's time zone and the instant of its record's
-- anonymisation (NULL while the resident is enrolled: the latest stay has no departure).
CREATE FUNCTION retention_stay(p_resident bigint,
                               OUT centre text, OUT to_date date, OUT due_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.centre, s.to_date, retention_instant(s.to_date, c.timezone)
      FROM resident_last_stay(p_resident) AS s JOIN centres c ON c.id = s.centre
$$;

CREATE FUNCTION retention_due_at(p_resident bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT (retention_stay(p_resident)).due_at $$;

-- (Re)schedules the retention due row of each resident not yet anonymised: one at their
-- instant, none while they are enrolled. Called whenever a stay changes.
CREATE FUNCTION retention_schedule(p_residents bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    refs bigint[];
    centres_ text[];
    due_ats timestamptz[];
BEGIN
    IF coalesce(cardinality(p_residents), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM due_cancel_many('retention', p_residents);
    SELECT array_agg(x.id), array_agg(x.centre), array_agg(x.due_at)
      INTO refs, centres_, due_ats
      FROM (SELECT r.id, s.centre, s.due_at
              FROM residents r, LATERAL retention_stay(r.id) AS s
             WHERE r.id = ANY (p_residents) AND r.anonymised_at IS NULL) AS x
     WHERE x.due_at IS NOT NULL;
    PERFORM due_schedule_many('retention', refs, centres_, due_ats);
END $$;

CREATE FUNCTION stays_schedule_retention() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retention_schedule(ARRAY[coalesce(NEW.resident, OLD.resident)]);
    RETURN NULL;
END $$;

CREATE TRIGGER stays_schedule_retention AFTER INSERT OR DELETE ON stays
    FOR EACH ROW EXECUTE FUNCTION stays_schedule_retention();
CREATE TRIGGER stays_schedule_retention_update AFTER UPDATE ON stays
    FOR EACH ROW WHEN (OLD.to_date IS DISTINCT FROM NEW.to_date
                       OR OLD.from_date IS DISTINCT FROM NEW.from_date
                       OR OLD.centre IS DISTINCT FROM NEW.centre)
    EXECUTE FUNCTION stays_schedule_retention();

-- Departed residents whose retention has no due row yet (records of a release before
-- retention existed), at most p_limit a call. The 6-hourly top-up of round deadlines calls it,
-- so an upgraded database catches up on its own.
CREATE FUNCTION retention_schedule_missing(p_limit integer) RETURNS void
LANGUAGE sql AS $$
    SELECT retention_schedule(ARRAY(
        SELECT r.id FROM residents r
         WHERE r.anonymised_at IS NULL
           AND (resident_last_stay(r.id)).to_date IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM due_events e
                            WHERE e.kind = 'retention' AND e.ref = r.id)
         ORDER BY r.id LIMIT p_limit))
$$;

-- How many records one transaction anonymises: a backlog (the first run after an upgrade)
-- goes in many short transactions, each holding the row locks of a few residents only.
CREATE FUNCTION retention_batch_max() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 100';

-- The JSON keys that carry a name, a case number or free text, wherever a stored document (a
-- statement as paid, an alert, an alert event) holds them.
CREATE FUNCTION retention_scrub(p_doc jsonb, p_resident bigint) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_doc) <> 'object' THEN p_doc ELSE
        (p_doc - ARRAY['given_name', 'family_name', 'name', 'concern', 'note', 'text',
                       'description', 'birthday', 'date_of_birth'])
        || CASE WHEN p_doc ? 'case_number'
                THEN jsonb_build_object('case_number', 'anon-' || p_resident) ELSE '{}' END
        || CASE WHEN jsonb_typeof(p_doc->'details') = 'object'
                THEN jsonb_build_object('details', retention_scrub(p_doc->'details', p_resident))
                ELSE '{}' END
    END
$$;

-- Anonymises one record as SPEC section 7 says: names erased, the case number anon-<id>, the
-- date of birth 1 January of its year, every free text about the resident erased (notes,
-- reasons, concern texts, incident descriptions, proxies' names, the webhook bodies kept in the
-- outbox and on each delivery, the profile with its photo and history); counts, dates of stays
-- and phases, amounts and the audit rows stay. Audit rows name the resident by id only, so
-- they are left as they are; one more records the anonymisation. Texts that must not be empty
-- become 'anonymised'.
CREATE FUNCTION resident_anonymise(p_resident bigint, p_due_at timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE residents r
       SET given_name = '', family_name = '', case_number = 'anon-' || r.id,
           date_of_birth = date_trunc('year', r.date_of_birth)::date, anonymised_at = p_now
     WHERE r.id = p_resident;
    UPDATE resident_dob_history h
       SET old_date_of_birth = date_trunc('year', h.old_date_of_birth)::date,
           new_date_of_birth = date_trunc('year', h.new_date_of_birth)::date,
           reason = 'anonymised'
     WHERE h.resident = p_resident;
    UPDATE observations o SET note = NULL WHERE o.resident = p_resident AND o.note IS NOT NULL;
    UPDATE absences a
       SET note = NULL, concern = CASE WHEN a.concern IS NULL THEN NULL ELSE '' END
     WHERE a.resident = p_resident;
    UPDATE incidents i SET description = 'anonymised' WHERE i.resident = p_resident;
    UPDATE sanctions s SET reason = 'anonymised' WHERE s.resident = p_resident;
    UPDATE agreements g SET proxy_name = 'anonymised' WHERE g.resident = p_resident;
    UPDATE payouts p
       SET collected_by = CASE WHEN p.collected_by = 'self' THEN 'self' ELSE 'anonymised' END,
           statement = retention_scrub(p.statement, p_resident)
     WHERE p.resident = p_resident;
    UPDATE outbox o SET payload = '{}' WHERE o.resident = p_resident;
    UPDATE deliveries d SET payload = '{}'
      FROM outbox o WHERE o.id = d.outbox AND o.resident = p_resident AND d.payload IS NOT NULL;
    -- The missing-person profile and photo, every version (SPEC section 7, v2).
    DELETE FROM resident_profiles p WHERE p.resident = p_resident;
    UPDATE channel_deliveries d SET payload = '{}'
      FROM alerts a WHERE a.id = d.alert AND a.resident = p_resident;
    UPDATE alerts a SET details = retention_scrub(a.details, p_resident)
     WHERE a.resident = p_resident;
    UPDATE alert_events e SET body = retention_scrub(e.body, p_resident)
      FROM alerts a WHERE a.id = e.alert AND a.resident = p_resident;
    PERFORM handover_anonymise(p_resident); -- the shift handovers naming them (handover.sql)
    INSERT INTO audit (at, cn, role, action, resident, outcome, detail)
    VALUES (p_now, 'rollcalld', NULL, 'resident_anonymise', p_resident, 'ok',
            jsonb_build_object('due_at', p_due_at));
END $$;

-- Due: anonymise the records whose instant has come, re-checked (a resident back at a centre
-- or whose departure moved since the row was scheduled gets a new row, or none), at most
-- retention_batch_max() a transaction; the rest are scheduled again at their (past) instant,
-- which the engine's next batch decides.
CREATE FUNCTION due_retention_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    done integer := 0;
    again bigint[] := '{}';
BEGIN
    FOR r IN
        SELECT x.id, retention_due_at(x.id) AS due_at
          FROM residents x
         WHERE x.id = ANY (p_refs) AND x.anonymised_at IS NULL
         ORDER BY x.id
           FOR UPDATE OF x
    LOOP
        IF r.due_at IS NULL THEN
            CONTINUE; -- enrolled again: the stay's trigger schedules the next departure
        ELSIF r.due_at > p_now OR done >= retention_batch_max() THEN
            again := again || r.id;
        ELSE
            PERFORM resident_anonymise(r.id, r.due_at, p_now);
            done := done + 1;
        END IF;
    END LOOP;
    PERFORM retention_schedule(again);
END $$;

-- GET /v1/retention?within_days=N&limit=&after= (admin): the dry run. The records the runs of
-- the next N days anonymise (and any whose instant has passed but that the engine has not yet
-- decided), ascending resident id, each with its departure and instant. Nothing is changed but
-- the audit rows of the read.
CREATE FUNCTION op_retention_list(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := ctx_now(ctx);
    within integer := coalesce(arg_int(args->'query'->>'within_days', 'within_days', 0, 36600),
                               30);
    lim integer := page_limit(args);
    after_ bigint := page_after_id(args);
    items jsonb;
    ids bigint[];
BEGIN
    SELECT jsonb_agg(jsonb_build_object(
               'resident', x.id, 'case_number', x.case_number, 'centre', x.centre,
               'departure_date', x.to_date, 'anonymise_at', x.due_at) ORDER BY x.id),
           array_agg(x.id)
      INTO items, ids
      FROM (SELECT r.id, r.case_number, s.centre, s.to_date, s.due_at
              FROM residents r, LATERAL retention_stay(r.id) AS s
             WHERE r.anonymised_at IS NULL AND r.id > after_
               AND s.due_at <= now_ + make_interval(days => within)
             ORDER BY r.id LIMIT lim + 1) AS x;
    PERFORM audit_many(ctx, 'retention_list', ids[1:lim]);
    RETURN QUERY SELECT 200, page(items, lim, 'resident');
END $$;
