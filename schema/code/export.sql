-- The resident's full record (GET /v1/residents/{id}/export): one export_section_<name>
-- function per section, assembled by op_resident_export.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Sections
-- ---------------------------------------------------------------------------------------------

-- GET /v1/residents/{id}/export: every section function `export_section_<name>(resident
-- bigint) RETURNS jsonb`, or `(resident bigint, now timestamptz)` for a section that shows a
-- state on the clock, contributes "<name>". The export is everything the system keeps about the
-- resident: a table about residents gets its section by one more such function (here, or in
-- its concern's file); nothing else changes.
CREATE FUNCTION export_section_resident(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', r.id, 'case_number', r.case_number,
                              'given_name', r.given_name, 'family_name', r.family_name,
                              'date_of_birth', r.date_of_birth, 'created_at', r.created_at,
                              'anonymised_at', r.anonymised_at)
    FROM residents r WHERE r.id = $1
$$;

CREATE FUNCTION export_section_date_of_birth_history(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT resident_dob_history_json($1) $$;

CREATE FUNCTION export_section_stays(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT resident_stays_json($1) $$;

CREATE FUNCTION export_section_phases(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT resident_phases_json($1) $$;

CREATE FUNCTION export_section_observations(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', o.id, 'centre', o.centre, 'date', o.date, 'slot', o.slot,
               'status', o.status, 'reason', o.reason, 'note', o.note, 'round_at', o.round_at,
               'recorded_at', o.recorded_at, 'recorded_by', o.recorded_by,
               'current', o.current) ORDER BY o.round_at, o.id), '[]'::jsonb)
    FROM observations o WHERE o.resident = $1
$$;

-- Who read or changed the record, and when: part of what the resident may ask to see.
CREATE FUNCTION export_section_audit(resident bigint) RETURNS jsonb
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

CREATE FUNCTION export_section_sanctions(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(sanction_json(s) ORDER BY s.id), '[]'::jsonb)
    FROM sanctions s WHERE s.resident = $1
$$;

CREATE FUNCTION export_section_agreements(resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(agreement_json(a) ORDER BY a.id), '[]'::jsonb)
    FROM agreements a WHERE a.resident = $1
$$;

CREATE FUNCTION export_section_payouts(resident bigint) RETURNS jsonb
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
