-- Incident reports (SPEC section 7a): stored, and notified to their authorities through the
-- outbox in the same transaction.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

CREATE FUNCTION incident_json(p_i incidents, p_now timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_i.id, 'resident', p_i.resident, 'centre', p_i.centre, 'kind', p_i.kind,
        'occurred_at', p_i.occurred_at, 'description', p_i.description,
        'police_report_number', p_i.police_report_number, 'reported_at', p_i.reported_at,
        'reported_by', p_i.reported_by,
        'notifications', coalesce((SELECT jsonb_agg(delivery_json(d, p_now) ORDER BY d.id)
                                     FROM deliveries d WHERE d.outbox = p_i.outbox), '[]'))
$$;

-- POST /v1/residents/{id}/incidents {"kind","occurred_at","description","police_report_number"}
-- Stores the report and, in the same transaction, its notification to the authorities the
-- kind's route names, due at once.
CREATE FUNCTION op_resident_incident_create(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := ctx_now(ctx);
    b jsonb := coalesce(args->'body', '{}');
    rid text := args->'path'->>'id';
    res residents;
    route incident_routes;
    centre_ text;
    tz text;
    occurred timestamptz;
    description_ text := nullif(btrim(b->>'description'), '');
    report_number text := nullif(btrim(b->>'police_report_number'), '');
    inc incidents;
    outbox_id bigint;
BEGIN
    IF rid IS NULL OR rid !~ '^[0-9]{1,18}$' THEN
        PERFORM fail(404, 'not_found', 'no such resident', 'id');
    END IF;
    SELECT * INTO res FROM residents WHERE id = rid::bigint;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', 'no such resident', 'id');
    END IF;
    occurred := arg_instant(arg_required(b, 'occurred_at'), 'occurred_at');
    -- The centre responsible: where the resident was when it happened, else where the resident
    -- is now, else the last stay (a report after departure).
    centre_ := coalesce(resident_centre_at(res.id, occurred), resident_centre_at(res.id, now_),
                        (SELECT s.centre FROM stays s WHERE s.resident = res.id
                          ORDER BY s.from_date DESC, s.id DESC LIMIT 1));
    IF centre_ IS NULL THEN
        PERFORM fail(409, 'not_enrolled', 'the resident has never been enrolled at a centre',
                     'id');
    END IF;
    PERFORM require_centre(ctx, centre_);
    IF res.anonymised_at IS NOT NULL THEN
        PERFORM fail(409, 'anonymised', 'the resident''s record has been anonymised', 'id');
    END IF;

    SELECT * INTO route FROM incident_routes r WHERE r.kind = arg_required(b, 'kind');
    IF NOT FOUND THEN
        PERFORM fail(400, 'bad_field',
                     'kind must be one of ' || (SELECT string_agg(r.kind, ', ' ORDER BY r.kind)
                                                  FROM incident_routes r),
                     'kind');
    END IF;
    IF occurred > now_ THEN
        PERFORM fail(400, 'bad_field', 'occurred_at must not be in the future', 'occurred_at');
    END IF;
    IF description_ IS NULL THEN
        PERFORM fail(400, 'missing_field', 'description must say what happened', 'description');
    END IF;
    IF route.needs_police_report AND report_number IS NULL THEN
        PERFORM fail(400, 'missing_field',
                     format('an %s report needs the police report number', upper(route.kind)),
                     'police_report_number');
    END IF;

    INSERT INTO incidents (resident, centre, kind, occurred_at, description,
                           police_report_number, reported_at, reported_by)
    VALUES (res.id, centre_, route.kind, occurred, description_, report_number, now_,
            ctx->>'cn')
    RETURNING * INTO inc;
    SELECT c.timezone INTO tz FROM centres c WHERE c.id = centre_;
    outbox_id := outbox_enqueue_for(centre_, route.type,
        jsonb_build_object(
            'incident', inc.id,
            'kind', inc.kind,
            'centre', outbox_centre_json(centre_),
            'resident', outbox_resident_json(res.id, (occurred AT TIME ZONE tz)::date),
            'occurred_at', inc.occurred_at,
            'description', inc.description,
            'police_report_number', inc.police_report_number,
            'reported_at', inc.reported_at,
            'reported_by', inc.reported_by),
        route.recipients, now_, NULL, res.id, now_);
    UPDATE incidents SET outbox = outbox_id WHERE incidents.id = inc.id RETURNING * INTO inc;
    PERFORM audit(ctx, 'incident.create', res.id,
                  jsonb_build_object('incident', inc.id, 'kind', inc.kind));
    RETURN QUERY SELECT 201, incident_json(inc, now_);
END $$;

-- GET /v1/incidents/{id}
CREATE FUNCTION op_incident_get(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    id_ text := args->'path'->>'id';
    inc incidents;
BEGIN
    IF id_ ~ '^[0-9]{1,18}$' THEN
        SELECT * INTO inc FROM incidents i WHERE i.id = id_::bigint;
    END IF;
    PERFORM require_object(ctx, 'incident', id_, inc.centre);
    PERFORM audit(ctx, 'incident.read', inc.resident);
    RETURN QUERY SELECT 200, incident_json(inc, ctx_now(ctx));
END $$;

-- GET /v1/incidents?centre=&resident=&kind=&limit=&after=  (ascending id; cursor = last id)
CREATE FUNCTION op_incident_list(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    q jsonb := coalesce(args->'query', '{}');
    now_ timestamptz := ctx_now(ctx);
    centre_ text := q->>'centre';
    resident_ bigint := arg_id(q->>'resident', 'resident');
    kind_ text := q->>'kind';
    lim integer := page_limit(args);
    after_ bigint := page_after_id(args);
    visible text[] := CASE WHEN ctx->>'role' = 'admin' THEN NULL
                           ELSE ARRAY(SELECT jsonb_array_elements_text(
                                          coalesce(ctx->'centres', '[]'))) END;
    rows_ incidents[];
    residents_ bigint[];
BEGIN
    IF centre_ IS NOT NULL THEN
        PERFORM require_centre(ctx, centre_);
    END IF;
    IF kind_ IS NOT NULL AND NOT EXISTS (SELECT 1 FROM incident_routes r WHERE r.kind = kind_)
    THEN
        PERFORM fail(400, 'bad_field', 'kind is not an incident kind', 'kind');
    END IF;
    SELECT array_agg(x ORDER BY x.id) INTO rows_ FROM (
        SELECT * FROM incidents i
         WHERE (centre_ IS NULL OR i.centre = centre_)
           AND (visible IS NULL OR i.centre = ANY (visible))
           AND (resident_ IS NULL OR i.resident = resident_)
           AND (kind_ IS NULL OR i.kind = kind_)
           AND i.id > after_
         ORDER BY i.id
         LIMIT lim + 1) x;
    rows_ := coalesce(rows_, '{}');
    residents_ := ARRAY(SELECT DISTINCT r.resident FROM unnest(rows_[1:lim]) r);
    IF cardinality(residents_) > 0 THEN
        PERFORM audit_many(ctx, 'incident.list', residents_);
    END IF;
    RETURN QUERY SELECT 200, jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(incident_json(r, now_) ORDER BY r.id)
                             FROM unnest(rows_[1:lim]) r), '[]'),
        'next', CASE WHEN cardinality(rows_) > lim THEN to_jsonb(rows_[lim].id::text) END);
END $$;
