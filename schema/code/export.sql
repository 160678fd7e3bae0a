-- The resident's full record (GET /v1/residents/{id}/export): one export_section_<name>
-- function per section, assembled by op_resident_export.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Sections
-- ---------------------------------------------------------------------------------------------

-- GET /v1/residents/{id}/export: every section function `export_section_<name>(resident
-- bigint) RETURNS jsonb` in the schema contributes "<name>". A table about residents gets
-- its section by one more such function (here, or in its concern's file); nothing else changes.
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
               'recorded_at', o.recorded_at, 'recorded_by', o.recorded_by,
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
        SELECT p.proname::text AS name FROM pg_proc p
        WHERE p.proname LIKE 'export\_section\_%' AND p.pronargs = 1
          AND p.proargtypes[0] = 'bigint'::regtype AND pg_function_is_visible(p.oid)
        ORDER BY p.proname
    LOOP
        EXECUTE format('SELECT %I($1)', section.name) INTO value USING r.id;
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
