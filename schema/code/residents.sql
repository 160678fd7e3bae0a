-- Centres and residents (SPEC sections 1 and 7): their JSON shapes, lookups other concerns use
-- (the centre of a resident on a date, the phase in force), and their API operations.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- A centre as the API shows it; authority secrets are never shown.
CREATE FUNCTION centre_json(p_c centres) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', ($1).id,
        'name', ($1).name,
        'operator', ($1).operator,
        'capacity', ($1).capacity,
        'timezone', ($1).timezone,
        'check_times', (SELECT jsonb_agg(to_char(t, 'HH24:MI') ORDER BY i)
                        FROM unnest(($1).check_times) WITH ORDINALITY AS u(t, i)),
        'grace_minutes', ($1).grace_minutes,
        'free_meals', ($1).free_meals,
        'repeat_minutes', ($1).repeat_minutes,
        'escalate_minutes', ($1).escalate_minutes,
        'receipt_minutes', ($1).receipt_minutes,
        'authorities', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                            'kind', a.kind, 'url', a.url, 'phone', a.phone,
                                            'profile_fields',
                                            to_jsonb(profile_fields_for(a.centre, a.kind)))
                                        ORDER BY a.kind)
                                 FROM centre_authorities a WHERE a.centre = ($1).id), '[]'::jsonb),
        'oncall_channels', oncall_channels_json(($1).id))
$$;

-- The resident's latest stay (the open one, or the one that ended last).
CREATE FUNCTION resident_last_stay(p_resident bigint) RETURNS stays
LANGUAGE sql STABLE AS $$
    SELECT * FROM stays s WHERE s.resident = $1 ORDER BY s.from_date DESC, s.id DESC LIMIT 1
$$;

-- The centre a resident belongs to on a date: the stay that began last on or before it (which
-- is the stay covering it, or the last one after a departure), else the first stay.
CREATE FUNCTION resident_centre_on(p_resident bigint, p_on_date date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT s.centre FROM stays s WHERE s.resident = $1
    ORDER BY (s.from_date <= $2) DESC,
             CASE WHEN s.from_date <= $2 THEN s.from_date END DESC,
             s.from_date, s.id DESC
    LIMIT 1
$$;

-- The local date of `at` in the time zone of the resident's latest centre.
CREATE FUNCTION resident_today(p_resident bigint, p_at timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT centre_local_date((resident_last_stay($1)).centre, $2)
$$;

-- The asylum phase in force on a date (the first recorded phase before any is in force).
CREATE FUNCTION resident_phase_on(p_resident bigint, p_on_date date) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT p.phase FROM phases p WHERE p.resident = $1
    ORDER BY (p.from_date <= $2) DESC,
             CASE WHEN p.from_date <= $2 THEN p.from_date END DESC,
             p.from_date
    LIMIT 1
$$;

-- The resident fields of SPEC section 10 plus the age, as of a date: "centre", "phase" and
-- "age" are those of on_date; "arrival_date" is the first arrival, "departure_date" the end of
-- the latest stay.
CREATE FUNCTION resident_summary_json(p_resident bigint, p_on_date date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', r.id,
        'case_number', r.case_number,
        'given_name', r.given_name,
        'family_name', r.family_name,
        'date_of_birth', r.date_of_birth,
        'centre', resident_centre_on(r.id, $2),
        'arrival_date', (SELECT min(s.from_date) FROM stays s WHERE s.resident = r.id),
        'departure_date', (resident_last_stay(r.id)).to_date,
        'phase', resident_phase_on(r.id, $2),
        'age', age_years(r.date_of_birth, $2))
    FROM residents r WHERE r.id = $1
$$;

CREATE FUNCTION resident_dob_history_json(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'old', h.old_date_of_birth, 'new', h.new_date_of_birth, 'reason', h.reason,
               'changed_at', h.changed_at, 'changed_by', h.changed_by) ORDER BY h.id), '[]'::jsonb)
    FROM resident_dob_history h WHERE h.resident = $1
$$;

CREATE FUNCTION resident_phases_json(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('phase', p.phase, 'from', p.from_date)
                              ORDER BY p.from_date), '[]'::jsonb)
    FROM phases p WHERE p.resident = $1
$$;

CREATE FUNCTION resident_stays_json(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('centre', s.centre, 'from', s.from_date,
                                                 'to', s.to_date)
                              ORDER BY s.from_date, s.id), '[]'::jsonb)
    FROM stays s WHERE s.resident = $1
$$;

-- GET /v1/residents/{id}: the summary as of the resident's local today, with the histories.
CREATE FUNCTION resident_json(p_resident bigint, p_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT resident_summary_json($1, resident_today($1, $2))
           || jsonb_build_object('date_of_birth_history', resident_dob_history_json($1),
                                 'phases', resident_phases_json($1),
                                 'stays', resident_stays_json($1),
                                 'accounted_for_at',
                                 (SELECT r.accounted_for_at FROM residents r WHERE r.id = $1))
$$;

-- The resident named by the path {id}, with the centre check of its current centre: 404 when
-- there is no such resident, 403 when the account may not see that centre.
CREATE FUNCTION require_resident(ctx jsonb, args jsonb) RETURNS residents
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found_resident residents;
    resident_id bigint := arg_id(args->'path'->>'id', 'id');
BEGIN
    SELECT * INTO found_resident FROM residents r WHERE r.id = resident_id;
    PERFORM require_object(ctx, 'resident', resident_id::text,
                           CASE WHEN found_resident.id IS NOT NULL
                                THEN resident_centre_on(resident_id,
                                                        resident_today(resident_id, ctx_now(ctx)))
                           END);
    RETURN found_resident;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Centres
-- ---------------------------------------------------------------------------------------------

-- Whether an authority secret has the Standard Webhooks form the daemon signs with
-- ("whsec_" + padded base64 of 1 to 255 key bytes; the same rule as webhook_secret_decode()).
CREATE FUNCTION webhook_secret_valid(p_secret text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    encoded text := substr(p_secret, 7);
BEGIN
    IF p_secret IS NULL OR left(p_secret, 6) <> 'whsec_' OR length(encoded) = 0
       OR length(encoded) % 4 <> 0 OR length(encoded) / 4 * 3 > 256
       OR encoded !~ '^[A-Za-z0-9+/]+(==|=)?$' OR encoded ~ '=[^=]' THEN
        RETURN false;
    END IF;
    RETURN length(decode(encoded, 'base64')) >= 1;
EXCEPTION
    WHEN invalid_parameter_value THEN
        RETURN false;
END $$;

-- The centre row a body describes: `base` with the body's fields applied, each validated
-- (400 naming the field). Writes nothing.
CREATE FUNCTION centre_apply(p_base centres, p_b jsonb) RETURNS centres
LANGUAGE plpgsql STABLE AS $$
DECLARE
    result centres := p_base;
    times jsonb;
    element jsonb;
    position bigint;
    parsed time[] := '{}';
BEGIN
    IF arg_given(p_b, 'name') THEN
        result.name := arg_text(p_b, 'name', 200);
    END IF;
    IF arg_given(p_b, 'operator') THEN
        IF jsonb_typeof(p_b->'operator') <> 'string' OR length(p_b->>'operator') > 200 THEN
            PERFORM fail(400, 'bad_field', 'operator must be a string of at most 200 characters',
                         'operator');
        END IF;
        result.operator := p_b->>'operator';
    END IF;
    IF arg_given(p_b, 'capacity') THEN
        result.capacity := arg_int(p_b->>'capacity', 'capacity', 0, 100000);
    END IF;
    IF arg_given(p_b, 'timezone') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = p_b->>'timezone') THEN
            PERFORM fail(400, 'bad_field',
                         format('timezone %s is not a time zone name this server knows',
                                p_b->'timezone'), 'timezone');
        END IF;
        result.timezone := p_b->>'timezone';
    END IF;
    IF arg_given(p_b, 'check_times') THEN
        times := p_b->'check_times';
        IF jsonb_typeof(times) <> 'array' OR jsonb_array_length(times) <> 3 THEN
            PERFORM fail(400, 'bad_field', 'check_times must be an array of three "HH:MM" times',
                         'check_times');
        END IF;
        FOR element, position IN
            SELECT e, i - 1 FROM jsonb_array_elements(times) WITH ORDINALITY AS t(e, i) ORDER BY i
        LOOP
            IF jsonb_typeof(element) <> 'string'
               OR element #>> '{}' !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
                PERFORM fail(400, 'bad_field', 'a check time must be "HH:MM" (00:00 to 23:59)',
                             format('check_times[%s]', position));
            END IF;
            parsed := parsed || (element #>> '{}')::time;
        END LOOP;
        IF NOT (parsed[1] < parsed[2] AND parsed[2] < parsed[3]) THEN
            PERFORM fail(400, 'bad_field',
                         'check_times must be in increasing order within the day', 'check_times');
        END IF;
        result.check_times := parsed;
    END IF;
    IF arg_given(p_b, 'grace_minutes') THEN
        result.grace_minutes := arg_int(p_b->>'grace_minutes', 'grace_minutes', 0, 1440);
    END IF;
    IF arg_given(p_b, 'free_meals') THEN
        IF jsonb_typeof(p_b->'free_meals') <> 'boolean' THEN
            PERFORM fail(400, 'bad_field', 'free_meals must be true or false', 'free_meals');
        END IF;
        result.free_meals := (p_b->>'free_meals')::boolean;
    END IF;
    -- The centre's own alert times (null: the alert kinds' times, alert_timing in alerts.sql).
    IF p_b ? 'repeat_minutes' THEN
        result.repeat_minutes := arg_int(p_b->>'repeat_minutes', 'repeat_minutes', 1, 1440);
    END IF;
    IF p_b ? 'escalate_minutes' THEN
        result.escalate_minutes := arg_int(p_b->>'escalate_minutes', 'escalate_minutes', 1, 1440);
    END IF;
    -- Minutes after delivery within which an authority must confirm receipt (null: no check).
    IF p_b ? 'receipt_minutes' THEN
        result.receipt_minutes := arg_int(p_b->>'receipt_minutes', 'receipt_minutes', 1, 10080);
    END IF;
    RETURN result;
END $$;

-- Replaces a centre's authority endpoints with `list` ([{"kind","url","secret"}]). When
-- `keep_secrets`, an entry without "secret" keeps the stored secret of its kind (an admin
-- changing a URL need not know the secret, which is never shown).
CREATE FUNCTION centre_authorities_set(p_centre text, p_list jsonb, p_keep_secrets boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    element jsonb;
    position bigint;
    prefix text;
    kinds text[] := '{}';
    a_kind text;
    a_url text;
    a_secret text;
    a_phone text;
    a_fields text[];
    a_fields_given boolean;
BEGIN
    IF jsonb_typeof(p_list) <> 'array' THEN
        PERFORM fail(400, 'bad_field', 'authorities must be an array', 'authorities');
    END IF;
    FOR element, position IN
        SELECT e, i - 1 FROM jsonb_array_elements(p_list) WITH ORDINALITY AS t(e, i) ORDER BY i
    LOOP
        prefix := format('authorities[%s].', position);
        IF jsonb_typeof(element) <> 'object' THEN
            PERFORM fail(400, 'bad_field', 'an authority must be an object',
                         format('authorities[%s]', position));
        END IF;
        a_kind := arg_required(element, 'kind', prefix);
        IF a_kind NOT IN ('municipality', 'police', 'immigration') THEN
            PERFORM fail(400, 'bad_field', 'kind must be one of municipality, police, immigration',
                         prefix || 'kind');
        END IF;
        IF a_kind = ANY (kinds) THEN
            PERFORM fail(400, 'bad_field', format('authority %s is listed twice', a_kind),
                         prefix || 'kind');
        END IF;
        kinds := kinds || a_kind;
        a_url := arg_required(element, 'url', prefix);
        IF a_url !~ '^https://[^/\s?#]+([/?#]\S*)?$' OR length(a_url) > 2000 THEN
            PERFORM fail(400, 'bad_field', 'url must be an https:// URL', prefix || 'url');
        END IF;
        a_secret := element->>'secret';
        IF a_secret IS NULL THEN
            SELECT a.secret INTO a_secret FROM centre_authorities a
            WHERE a.centre = p_centre AND a.kind = a_kind
              AND p_keep_secrets;
            IF a_secret IS NULL THEN
                PERFORM fail(400, 'missing_field', prefix || 'secret is required',
                             prefix || 'secret');
            END IF;
        ELSIF NOT webhook_secret_valid(a_secret) THEN
            PERFORM fail(400, 'bad_field',
                         'secret must be "whsec_" followed by the base64 of a key of 1 to 255 '
                         'bytes',
                         prefix || 'secret');
        END IF;
        -- The number staff phone when a notification fails (optional; as given, so a list
        -- without it clears it, as the list says what the centre has).
        a_phone := element->>'phone';
        IF a_phone IS NOT NULL AND a_phone !~ '^\+?[0-9][0-9 ()-]{2,39}$' THEN
            PERFORM fail(400, 'bad_field',
                         'phone must be a phone number: digits, spaces, ( ) - and a leading +',
                         prefix || 'phone');
        END IF;
        -- profile_fields: absent keeps the stored choice (as a secret is kept), null means the
        -- kind's defaults (profile_field_defaults), a list is that authority's fields.
        a_fields_given := element ? 'profile_fields';
        a_fields := NULL;
        IF a_fields_given AND jsonb_typeof(element->'profile_fields') <> 'null' THEN
            IF jsonb_typeof(element->'profile_fields') <> 'array'
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(element->'profile_fields') f
                           WHERE jsonb_typeof(f) <> 'string'
                              OR NOT (f #>> '{}') = ANY (profile_field_names())) THEN
                PERFORM fail(400, 'bad_field',
                             prefix || 'profile_fields must list only '
                             || array_to_string(profile_field_names(), ', '),
                             prefix || 'profile_fields');
            END IF;
            SELECT coalesce(array_agg(DISTINCT f), '{}') INTO a_fields
              FROM jsonb_array_elements_text(element->'profile_fields') f;
        ELSIF NOT a_fields_given THEN
            SELECT a.profile_fields INTO a_fields FROM centre_authorities a
             WHERE a.centre = p_centre AND a.kind = a_kind;
        END IF;
        INSERT INTO centre_authorities AS a (centre, kind, url, secret, profile_fields, phone)
        VALUES (p_centre, a_kind, a_url, a_secret, a_fields, a_phone)
        ON CONFLICT ON CONSTRAINT centre_authorities_pkey
        DO UPDATE SET url = excluded.url, secret = excluded.secret,
                      profile_fields = excluded.profile_fields, phone = excluded.phone;
    END LOOP;
    BEGIN
        DELETE FROM centre_authorities a
        WHERE a.centre = p_centre AND a.kind <> ALL (kinds);
    EXCEPTION WHEN foreign_key_violation THEN
        PERFORM fail(409, 'conflict',
                     'an authority left out of the list still has notifications on record',
                     'authorities');
    END;
END $$;

-- POST /v1/centres (admin)
CREATE FUNCTION op_centre_create(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    c centres;
BEGIN
    c.timezone := 'Europe/Copenhagen';
    c.check_times := '{07:00,15:00,23:00}';
    c.grace_minutes := 60;
    c.free_meals := false;
    c.operator := '';
    c.capacity := 0;
    c.receipt_minutes := 30;
    c.created_at := ctx_now(ctx);
    PERFORM arg_required(b, 'name');
    c := centre_apply(c, b);
    IF arg_given(b, 'id') THEN
        c.id := b->>'id';
        IF c.id !~ '^[a-z0-9][a-z0-9_-]{0,63}$' THEN
            PERFORM fail(400, 'bad_field',
                         'id must be 1 to 64 of a-z, 0-9, "_" and "-", starting with a letter '
                         'or digit',
                         'id');
        END IF;
    ELSE
        LOOP
            c.id := 'c' || nextval('centre_id_seq');
            EXIT WHEN NOT EXISTS (SELECT 1 FROM centres x WHERE x.id = c.id);
        END LOOP;
    END IF;
    INSERT INTO centres SELECT (c).* ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM fail(409, 'conflict', format('a centre %L already exists', c.id), 'id');
    END IF;
    IF b ? 'authorities' THEN
        PERFORM centre_authorities_set(c.id, coalesce(b->'authorities', '[]'::jsonb), false);
    END IF;
    IF b ? 'oncall_channels' THEN
        PERFORM oncall_channels_set(c.id, coalesce(b->'oncall_channels', '[]'::jsonb), false,
                                    ctx_now(ctx));
    END IF;
    PERFORM audit(ctx, 'centre_create', NULL, jsonb_build_object('centre', c.id));
    RETURN QUERY SELECT 201, centre_json(c);
END $$;

-- GET /v1/centres?limit=&after=: the account's centres (admin: all), ordered by id.
CREATE FUNCTION op_centre_list(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := page_limit(args);
    after_id text := page_after(args);
BEGIN
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(l.j ORDER BY l.k), '[]'), lim)
    FROM (SELECT centre_json(x) AS j, x.id COLLATE "C" AS k FROM centres x
          WHERE (after_id IS NULL OR x.id COLLATE "C" > after_id)
            AND (ctx->>'role' = 'admin' OR ctx->'centres' ? x.id)
          ORDER BY x.id COLLATE "C" LIMIT lim + 1) AS l;
END $$;

-- GET /v1/centres/{id}
CREATE FUNCTION op_centre_get(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT 200, centre_json(require_centre(ctx, args->'path'->>'id'));
END $$;

-- PATCH /v1/centres/{id} (admin). Changing the time zone or check times moves the rounds of
-- every date, past ones included (rounds are computed, not stored); stored observations keep
-- the instant they were recorded for.
CREATE FUNCTION op_centre_patch(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    c centres := require_centre(ctx, args->'path'->>'id');
BEGIN
    PERFORM 1 FROM centres x WHERE x.id = c.id FOR UPDATE;
    IF b ? 'id' AND b->>'id' IS DISTINCT FROM c.id THEN
        PERFORM fail(400, 'bad_field', 'a centre''s id cannot be changed', 'id');
    END IF;
    c := centre_apply(c, b);
    UPDATE centres x SET name = c.name, operator = c.operator, capacity = c.capacity,
        timezone = c.timezone, check_times = c.check_times, grace_minutes = c.grace_minutes,
        free_meals = c.free_meals, repeat_minutes = c.repeat_minutes,
        escalate_minutes = c.escalate_minutes, receipt_minutes = c.receipt_minutes
    WHERE x.id = c.id;
    IF b ? 'authorities' THEN
        PERFORM centre_authorities_set(c.id, coalesce(b->'authorities', '[]'::jsonb), true);
    END IF;
    IF b ? 'oncall_channels' THEN
        PERFORM oncall_channels_set(c.id, coalesce(b->'oncall_channels', '[]'::jsonb), true,
                                    ctx_now(ctx));
    END IF;
    PERFORM audit(ctx, 'centre_patch', NULL,
                  jsonb_build_object('centre', c.id, 'fields', body_fields(b)));
    RETURN QUERY SELECT 200, centre_json(c);
END $$;

-- ---------------------------------------------------------------------------------------------
-- Residents
-- ---------------------------------------------------------------------------------------------

-- accounted_for_at of a create or PATCH body: an instant not after the request's (null clears
-- it on PATCH).
CREATE FUNCTION resident_accounted_for_arg(ctx jsonb, p_b jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    at_ timestamptz := arg_instant(p_b->>'accounted_for_at', 'accounted_for_at');
BEGIN
    IF at_ > ctx_now(ctx) THEN
        PERFORM fail(400, 'bad_field', 'accounted_for_at is in the future', 'accounted_for_at');
    END IF;
    RETURN at_;
END $$;

-- POST /v1/residents (manager, admin)
CREATE FUNCTION op_resident_create(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    new_case text := arg_text(b, 'case_number', 64);
    new_given text := arg_text(b, 'given_name', 200);
    new_family text := arg_text(b, 'family_name', 200);
    new_dob date := arg_date(arg_required(b, 'date_of_birth'), 'date_of_birth');
    centre_id text := arg_required(b, 'centre');
    arrival date := arg_date(arg_required(b, 'arrival_date'), 'arrival_date');
    departure date := arg_date(b->>'departure_date', 'departure_date');
    first_phase int := coalesce(arg_int(b->>'phase', 'phase', 1, 3), 1);
    accounted timestamptz := resident_accounted_for_arg(ctx, b);
    new_id bigint;
BEGIN
    IF new_case IS NULL THEN
        PERFORM fail(400, 'missing_field', 'case_number is required', 'case_number');
    ELSIF new_given IS NULL THEN
        PERFORM fail(400, 'missing_field', 'given_name is required', 'given_name');
    ELSIF new_family IS NULL THEN
        PERFORM fail(400, 'missing_field', 'family_name is required', 'family_name');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM centres c WHERE c.id = centre_id) THEN
        PERFORM fail(422, 'unknown_centre', format('there is no centre %L', centre_id), 'centre');
    END IF;
    PERFORM require_centre(ctx, centre_id);
    IF departure < arrival THEN
        PERFORM fail(400, 'bad_field', 'departure_date must not be before arrival_date',
                     'departure_date');
    END IF;
    IF new_dob > centre_local_date(centre_id, ctx_now(ctx)) THEN
        PERFORM fail(400, 'bad_field', 'date_of_birth is in the future', 'date_of_birth');
    END IF;
    -- ON CONFLICT rather than a prior lookup: two managers registering the same case at the
    -- same moment get one resident and one 409, not a 500.
    INSERT INTO residents AS r (case_number, given_name, family_name, date_of_birth, created_at,
                                accounted_for_at)
    VALUES (new_case, new_given, new_family, new_dob, ctx_now(ctx), accounted)
    ON CONFLICT ON CONSTRAINT residents_case_number_key DO NOTHING
    RETURNING r.id INTO new_id;
    IF new_id IS NULL THEN
        PERFORM fail(409, 'conflict',
                     format('a resident with case number %s already exists', new_case),
                     'case_number');
    END IF;
    INSERT INTO stays (resident, centre, from_date, to_date)
    VALUES (new_id, centre_id, arrival, departure);
    INSERT INTO phases (resident, phase, from_date) VALUES (new_id, first_phase, arrival);
    PERFORM audit(ctx, 'resident_create', new_id);
    RETURN QUERY SELECT 201, resident_json(new_id, ctx_now(ctx));
END $$;

-- GET /v1/residents/{id} (staff+ of the resident's centre)
CREATE FUNCTION op_resident_get(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
BEGIN
    PERFORM audit(ctx, 'resident_get', r.id);
    RETURN QUERY SELECT 200, resident_json(r.id, ctx_now(ctx));
END $$;

-- PATCH /v1/residents/{id} (manager, admin): given_name, family_name, date_of_birth (with
-- reason; kept in the history), departure_date (ends the latest stay; null undoes a departure),
-- centre + moved_on (a move: the latest stay ends on moved_on and one at the new centre begins).
CREATE FUNCTION op_resident_patch(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    r residents := require_resident(ctx, args);
    stay stays;
    new_dob date;
    reason text;
    new_centre text;
    moved_on date;
    departure date;
BEGIN
    PERFORM 1 FROM residents x WHERE x.id = r.id FOR UPDATE;
    IF b ? 'accounted_for_at' THEN  -- null clears it
        UPDATE residents x SET accounted_for_at = resident_accounted_for_arg(ctx, b)
         WHERE x.id = r.id;
    END IF;
    IF arg_given(b, 'given_name') THEN
        UPDATE residents x SET given_name = arg_text(b, 'given_name', 200) WHERE x.id = r.id;
    END IF;
    IF arg_given(b, 'family_name') THEN
        UPDATE residents x SET family_name = arg_text(b, 'family_name', 200) WHERE x.id = r.id;
    END IF;

    reason := arg_text(b, 'reason', 2000);
    IF arg_given(b, 'date_of_birth') THEN
        new_dob := arg_date(b->>'date_of_birth', 'date_of_birth');
        IF new_dob > resident_today(r.id, ctx_now(ctx)) THEN
            PERFORM fail(400, 'bad_field', 'date_of_birth is in the future', 'date_of_birth');
        END IF;
        IF new_dob <> r.date_of_birth THEN
            IF reason IS NULL THEN
                PERFORM fail(400, 'missing_field',
                             'a date_of_birth correction needs a reason (e.g. the age assessment)',
                             'reason');
            END IF;
            INSERT INTO resident_dob_history (resident, old_date_of_birth, new_date_of_birth,
                                              reason, changed_at, changed_by)
            VALUES (r.id, r.date_of_birth, new_dob, reason, ctx_now(ctx), ctx->>'cn');
            UPDATE residents x SET date_of_birth = new_dob WHERE x.id = r.id;
        END IF;
    ELSIF reason IS NOT NULL THEN
        PERFORM fail(400, 'bad_field', 'reason is only taken with a date_of_birth change',
                     'reason');
    END IF;

    IF b ? 'centre' OR b ? 'moved_on' THEN
        new_centre := arg_required(b, 'centre');
        moved_on := arg_date(arg_required(b, 'moved_on'), 'moved_on');
        IF NOT EXISTS (SELECT 1 FROM centres c WHERE c.id = new_centre) THEN
            PERFORM fail(422, 'unknown_centre', format('there is no centre %L', new_centre),
                         'centre');
        END IF;
        PERFORM require_centre(ctx, new_centre);
        SELECT * INTO stay FROM stays s WHERE s.resident = r.id
        ORDER BY s.from_date DESC, s.id DESC LIMIT 1 FOR UPDATE;
        IF moved_on < stay.from_date THEN
            PERFORM fail(400, 'bad_field',
                         format('moved_on is before the current stay began (%s)', stay.from_date),
                         'moved_on');
        END IF;
        IF stay.to_date IS NOT NULL AND moved_on >= stay.to_date THEN
            PERFORM fail(400, 'bad_field',
                         format('moved_on is not before the departure (%s)', stay.to_date),
                         'moved_on');
        END IF;
        IF new_centre <> stay.centre THEN
            IF moved_on = stay.from_date THEN
                -- A stay of no days at the old centre: the stay itself was at the wrong centre.
                UPDATE stays s SET centre = new_centre WHERE s.id = stay.id;
            ELSE
                UPDATE stays s SET to_date = moved_on WHERE s.id = stay.id;
                INSERT INTO stays (resident, centre, from_date, to_date)
                VALUES (r.id, new_centre, moved_on, stay.to_date);
            END IF;
        END IF;
    END IF;

    IF b ? 'departure_date' THEN
        departure := arg_date(b->>'departure_date', 'departure_date');
        SELECT * INTO stay FROM stays s WHERE s.resident = r.id
        ORDER BY s.from_date DESC, s.id DESC LIMIT 1 FOR UPDATE;
        IF departure < stay.from_date THEN
            PERFORM fail(400, 'bad_field',
                         format('departure_date is before the %s (%s)',
                                CASE WHEN (SELECT count(*) FROM stays s WHERE s.resident = r.id) > 1
                                     THEN 'current stay began' ELSE 'arrival' END,
                                stay.from_date),
                         'departure_date');
        END IF;
        UPDATE stays s SET to_date = departure WHERE s.id = stay.id;
    END IF;

    PERFORM audit(ctx, 'resident_patch', r.id,
                  jsonb_build_object('fields', body_fields(b)));
    RETURN QUERY SELECT 200, resident_json(r.id, ctx_now(ctx));
END $$;

-- POST /v1/residents/{id}/phases {"phase","from"} (manager, admin): the phase in force from a
-- date; a phase already recorded from that date is replaced.
CREATE FUNCTION op_resident_phase_add(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    r residents := require_resident(ctx, args);
    new_phase int := arg_int(arg_required(b, 'phase'), 'phase', 1, 3);
    phase_from date := arg_date(arg_required(b, 'from'), 'from');
    arrival date;
BEGIN
    SELECT min(s.from_date) INTO arrival FROM stays s WHERE s.resident = r.id;
    IF phase_from < arrival THEN
        PERFORM fail(400, 'bad_field', format('from is before the arrival (%s)', arrival), 'from');
    END IF;
    INSERT INTO phases AS p (resident, phase, from_date) VALUES (r.id, new_phase, phase_from)
    ON CONFLICT ON CONSTRAINT phases_pkey DO UPDATE SET phase = excluded.phase;
    PERFORM audit(ctx, 'resident_phase_add', r.id,
                  jsonb_build_object('phase', new_phase, 'from', phase_from));
    RETURN QUERY SELECT 201, jsonb_build_object('resident', r.id, 'phase', new_phase,
                                                'from', phase_from,
                                                'phases', resident_phases_json(r.id));
END $$;

-- POST /v1/centres/{id}/residents/import {"residents":[{...as POST /v1/residents, without
-- "centre"...}]} (manager, admin): the go-live import. Each row is created exactly as POST
-- /v1/residents creates one (and audited as such), all in this one transaction: the first
-- refusal names its row (residents[i].field) and undoes every row before it.
CREATE FUNCTION op_resident_import(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    c centres := require_centre(ctx, args->'path'->>'id');
    rows_ jsonb := args->'body'->'residents';
    row_ jsonb;
    position bigint;
    created jsonb := '[]';
    one jsonb;
    err_detail text;
    err_message text;
    err jsonb;
BEGIN
    IF rows_ IS NULL OR jsonb_typeof(rows_) <> 'array' OR jsonb_array_length(rows_) = 0 THEN
        PERFORM fail(400, 'bad_field', 'residents must be a non-empty array', 'residents');
    END IF;
    FOR row_, position IN
        SELECT e, i - 1 FROM jsonb_array_elements(rows_) WITH ORDINALITY AS t(e, i) ORDER BY i
    LOOP
        IF jsonb_typeof(row_) <> 'object' OR row_ ? 'centre' THEN
            PERFORM fail(400, 'bad_field',
                         format('residents[%s] must be an object without "centre" (the '
                                'import''s centre is the path''s)', position),
                         format('residents[%s]', position));
        END IF;
        BEGIN
            SELECT r.body INTO one
              FROM op_resident_create(ctx, jsonb_build_object(
                       'body', row_ || jsonb_build_object('centre', c.id))) AS r;
        EXCEPTION WHEN SQLSTATE 'RCAPP' THEN
            GET STACKED DIAGNOSTICS err_detail = PG_EXCEPTION_DETAIL,
                                    err_message = MESSAGE_TEXT;
            err := err_detail::jsonb;
            PERFORM fail((err->>'status')::int, err->>'code',
                         format('residents[%s]: %s', position, err_message),
                         format('residents[%s]', position)
                             || coalesce('.' || (err->>'field'), ''),
                         nullif(err->'extra', 'null'::jsonb));
        END;
        created := created || jsonb_build_array(one);
    END LOOP;
    RETURN QUERY SELECT 201, jsonb_build_object('centre', c.id,
                                                'count', jsonb_array_length(created),
                                                'residents', created);
END $$;

-- GET /v1/centres/{id}/residents?on=DATE&limit=&after=: residents enrolled at the centre that
-- day (a stay with from_date <= on < to_date), by id. "on" defaults to the centre's local today.
CREATE FUNCTION op_centre_residents(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    c centres := require_centre(ctx, args->'path'->>'id');
    on_date date := coalesce(arg_date(args->'query'->>'on', 'on'),
                             centre_local_date(c.id, ctx_now(ctx)));
    lim int := page_limit(args);
    after_id bigint := page_after_id(args);
    ids bigint[];
BEGIN
    SELECT coalesce(array_agg(e.id ORDER BY e.id), '{}') INTO ids
    FROM (SELECT DISTINCT s.resident AS id FROM stays s
          WHERE s.centre = c.id AND s.from_date <= on_date
            AND on_date < coalesce(s.to_date, 'infinity'::date) AND s.resident > after_id
          ORDER BY 1 LIMIT lim + 1) AS e;
    PERFORM audit_many(ctx, 'centre_residents', ids[1:lim]);
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(resident_summary_json(i, on_date) ORDER BY i), '[]'), lim)
    FROM unnest(ids) AS i;
END $$;

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
