-- The API dispatcher api() (one SQL statement per request, docs/DESIGN.md) and the helpers every
-- operation uses: refusals, argument readers, pagination, the idempotency sweep, the test clock,
-- and local-time helpers. Every instant arrives as a parameter; nothing reads the database clock.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Refusals
-- ---------------------------------------------------------------------------------------------

-- Refuses the request: raises SQLSTATE RCAPP, which api() catches, rolling back everything the
-- op wrote. `p_extra` (optional) is merged into the top level of the error answer, for refusals
-- that must show something (e.g. a 409 showing the first payout: fail(409, 'already_paid', ...,
-- NULL, jsonb_build_object('payout', ...))).
CREATE FUNCTION fail(p_status int, p_code text, p_message text, p_field text DEFAULT NULL,
                     p_extra jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'RCAPP',
        MESSAGE = p_message,
        DETAIL = jsonb_build_object('status', p_status, 'code', p_code,
                                    'field', p_field, 'extra', p_extra)::text;
END $$;

-- The error document of SPEC section 10; field is JSON null when the refusal names none.
CREATE FUNCTION error_body(p_code text, p_message text, p_field text DEFAULT NULL,
                           p_extra jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce($4, '{}'::jsonb)
           || jsonb_build_object('error', jsonb_build_object('code', $1, 'message', $2,
                                                               'field', $3))
$$;

-- ---------------------------------------------------------------------------------------------
-- Request context and argument helpers
-- ---------------------------------------------------------------------------------------------

-- The clock instant of the request (ctx->>'now').
CREATE FUNCTION ctx_now(ctx jsonb) RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT ($1->>'now')::timestamptz $$;

-- Argument readers: NULL stays NULL; a value of the wrong form is a 400 naming the field. The C
-- side already checks types from the route's field table, so these guard against a route whose
-- spec and op disagree rather than against clients.
CREATE FUNCTION arg_date(p_value text, p_field text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM fail(400, 'bad_field', p_field || ' must be a date (YYYY-MM-DD)', p_field);
    END IF;
    RETURN p_value::date;
EXCEPTION
    WHEN datetime_field_overflow OR invalid_datetime_format THEN
        PERFORM fail(400, 'bad_field', p_field || ' must be a real calendar date', p_field);
        RETURN NULL;
END $$;

CREATE FUNCTION arg_instant(p_value text, p_field text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_value !~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?'
                 '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$') THEN
        PERFORM fail(400, 'bad_field', p_field || ' must be an RFC 3339 instant with offset',
                     p_field);
    END IF;
    RETURN p_value::timestamptz;
EXCEPTION
    WHEN datetime_field_overflow OR invalid_datetime_format THEN
        PERFORM fail(400, 'bad_field', p_field || ' must be a real instant', p_field);
        RETURN NULL;
END $$;

CREATE FUNCTION arg_id(p_value text, p_field text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_value !~ '^[0-9]{1,18}$' OR p_value::bigint = 0 THEN
        PERFORM fail(400, 'bad_field', p_field || ' must be a positive integer id', p_field);
    END IF;
    RETURN p_value::bigint;
END $$;

CREATE FUNCTION arg_int(p_value text, p_field text, p_low int, p_high int) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_value !~ '^-?[0-9]{1,9}$' OR p_value::int NOT BETWEEN p_low AND p_high THEN
        PERFORM fail(400, 'bad_field',
                     format('%s must be an integer between %s and %s', p_field, p_low, p_high),
                     p_field);
    END IF;
    RETURN p_value::int;
END $$;

-- A required member of a body: 400 missing_field when absent or null.
CREATE FUNCTION arg_required(p_body jsonb, p_name text, p_prefix text DEFAULT '') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_body->p_name IS NULL OR jsonb_typeof(p_body->p_name) = 'null' THEN
        PERFORM fail(400, 'missing_field', p_prefix || p_name || ' is required',
                     p_prefix || p_name);
    END IF;
    RETURN p_body->>p_name;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Pagination: ?limit= (default 100, 1..1000) and ?after=CURSOR, where the cursor is the last
-- item's key as text (opaque to clients). An op fetches limit + 1 rows ordered by the key after
-- the cursor and hands them to page(), which cuts the extra row and sets "next".
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION page_limit(args jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(arg_int($1->'query'->>'limit', 'limit', 1, 1000), 100)
$$;

-- The cursor as sent (NULL for the first page).
CREATE FUNCTION page_after(args jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif($1->'query'->>'after', '') $$;

-- The cursor of a list keyed by a bigint id (0 for the first page).
CREATE FUNCTION page_after_id(args jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    cursor_text text := page_after(args);
BEGIN
    IF cursor_text IS NULL THEN
        RETURN 0;
    END IF;
    IF cursor_text !~ '^[0-9]{1,18}$' THEN
        PERFORM fail(400, 'bad_field', 'after is not a cursor this list gave out', 'after');
    END IF;
    RETURN cursor_text::bigint;
END $$;

-- {"items": the first `p_lim` of `p_items`, "next": the key (`p_key`) of the last one, or null
-- when `p_items` holds no more than `p_lim` (there is no further page)}.
CREATE FUNCTION page(p_items jsonb, p_lim int, p_key text DEFAULT 'id') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(e ORDER BY i)
                           FROM jsonb_array_elements(coalesce($1, '[]')) WITH ORDINALITY AS t(e, i)
                           WHERE i <= $2), '[]'::jsonb),
        'next', CASE WHEN jsonb_array_length(coalesce($1, '[]')) > $2
                     THEN to_jsonb(($1->($2 - 1))->>$3) ELSE 'null'::jsonb END)
$$;

-- ---------------------------------------------------------------------------------------------
-- The dispatcher
-- ---------------------------------------------------------------------------------------------

-- The residents a request names, for the audit row of a refusal: the path id of resident_*
-- ops (routes under /v1/residents/{id}), any "resident" in path, query or body, and the
-- residents of a round's observations.
CREATE FUNCTION api_named_residents(p_op text, args jsonb) RETURNS bigint[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(DISTINCT v::bigint ORDER BY v::bigint), '{}')
    FROM (
        SELECT $2->'path'->>'id' WHERE $1 LIKE 'resident\_%'
        UNION ALL SELECT $2->'path'->>'resident'
        UNION ALL SELECT $2->'query'->>'resident'
        UNION ALL SELECT $2->'body'->>'resident'
        UNION ALL
        SELECT o->>'resident'
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof($2->'body'->'observations') = 'array'
                                       THEN $2->'body'->'observations' ELSE '[]' END) AS o
    ) AS named(v)
    WHERE v ~ '^[0-9]{1,18}$'
$$;

-- Builds the error reply of a refusal and writes its audit rows: one per named resident, or one
-- without a resident when the request is a mutation; reads that name no resident leave none.
CREATE FUNCTION api_refuse(ctx jsonb, p_op text, args jsonb, p_status int, p_code text,
                           p_message text, p_field text, p_extra jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    named bigint[] := api_named_residents(p_op, args);
    detail jsonb := jsonb_build_object('status', p_status, 'message', p_message);
BEGIN
    IF cardinality(named) > 0 THEN
        PERFORM audit_write(ctx, p_op, r, 'refused:' || p_code, detail) FROM unnest(named) AS r;
    ELSIF jsonb_typeof(args->'body') = 'object' THEN
        PERFORM audit_write(ctx, p_op, NULL, 'refused:' || p_code, detail);
    END IF;
    RETURN error_body(p_code, p_message, p_field, p_extra);
END $$;

-- One API request. See docs/DESIGN.md: account and role check, idempotency, the op inside a
-- savepoint, refusal audit, the stored reply. Errors other than fail()'s propagate to the daemon
-- (503 / retry / 500) and roll back everything, the idempotency key included.
CREATE FUNCTION api(p_op text, p_cn text, args jsonb, p_now timestamptz, p_idem_key text,
                    p_req_hash text, p_remote text, p_request_id text, p_roles text[])
RETURNS TABLE(status int, body json)
LANGUAGE plpgsql
SET TimeZone = 'UTC'   -- instants in JSON come out as RFC 3339 in UTC whatever the session says
AS $$
DECLARE
    account accounts;
    ctx jsonb;
    stored idempotency;
    reply_status int;
    reply_body json;   -- an op may answer json (text) that is passed on without parsing
    err_detail text;
    err_message text;
    err jsonb;
BEGIN
    IF p_op IS NULL OR p_op !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'api(): op % is not an operation name', p_op;
    END IF;
    SELECT * INTO account FROM accounts a WHERE a.cn = p_cn;
    ctx := jsonb_build_object(
        'cn', p_cn,
        'role', account.role,
        'authority', account.authority,
        'centres', coalesce((SELECT jsonb_agg(ac.centre ORDER BY ac.centre)
                             FROM account_centres ac WHERE ac.cn = p_cn), '[]'::jsonb),
        'now', to_jsonb(p_now),
        'request_id', p_request_id,
        'remote', p_remote,
        'op', p_op);

    IF account.cn IS NULL OR account.disabled THEN
        RETURN QUERY SELECT 403, api_refuse(ctx, p_op, api.args, 403, 'forbidden',
            CASE WHEN account.cn IS NULL THEN 'no account for this certificate'
                 ELSE 'this account is disabled' END, NULL)::json;
        RETURN;
    END IF;
    IF NOT account.role = ANY (coalesce(p_roles, '{}')) THEN
        RETURN QUERY SELECT 403, api_refuse(ctx, p_op, api.args, 403, 'forbidden',
            format('the %s role may not do this (it needs the %s role)', account.role,
                   array_to_string(coalesce(p_roles, '{}'), ' or ')), NULL)::json;
        RETURN;
    END IF;

    -- A dry run changes nothing, so it claims no key: sending the same request for real
    -- afterwards, with the same key, must act.
    IF api.args->'query'->>'dry_run' = 'true' THEN
        p_idem_key := NULL;
    END IF;
    -- Claim the key first: a concurrent twin blocks on this INSERT until the first request
    -- commits, then finds its stored reply below instead of acting a second time.
    IF p_idem_key IS NOT NULL THEN
        INSERT INTO idempotency (cn, key, req_hash, created_at)
        VALUES (p_cn, p_idem_key, coalesce(p_req_hash, ''), p_now)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT * INTO stored FROM idempotency i
            WHERE i.cn = p_cn AND i.key = p_idem_key;
            IF stored.req_hash IS DISTINCT FROM coalesce(p_req_hash, '') THEN
                RETURN QUERY SELECT 422, api_refuse(ctx, p_op, api.args, 422,
                    'idempotency_mismatch',
                    'this Idempotency-Key was used for a different request',
                    'Idempotency-Key')::json;
                RETURN;
            END IF;
            IF stored.status IS NULL THEN
                -- Cannot happen while claim and reply share one transaction; kept so that a
                -- future change to that never replays an empty answer.
                RETURN QUERY SELECT 409, error_body('idempotency_in_progress',
                    'a request with this Idempotency-Key is still being processed')::json;
                RETURN;
            END IF;
            -- One row per named resident, or one without a resident: a replay is visible
            -- in the log even though the op did not run again.
            PERFORM audit_write(ctx, p_op, r, 'replayed',
                                jsonb_build_object('status', stored.status))
            FROM unnest(coalesce(nullif(api_named_residents(p_op, api.args), '{}'),
                                 ARRAY[NULL::bigint])) AS r;
            RETURN QUERY SELECT stored.status, stored.body::json;
            RETURN;
        END IF;
    END IF;

    BEGIN
        EXECUTE format('SELECT r.status, r.body FROM %I($1, $2) AS r', 'op_' || p_op)
            INTO reply_status, reply_body USING ctx, api.args;
        IF reply_status IS NULL THEN
            RAISE EXCEPTION 'op_%() returned no reply', p_op;
        END IF;
    EXCEPTION WHEN SQLSTATE 'RCAPP' THEN
        -- The savepoint of this block has undone the op's writes; record the refusal.
        GET STACKED DIAGNOSTICS err_detail = PG_EXCEPTION_DETAIL, err_message = MESSAGE_TEXT;
        err := err_detail::jsonb;
        reply_status := (err->>'status')::int;
        reply_body := api_refuse(ctx, p_op, api.args, reply_status, err->>'code', err_message,
                                 err->>'field', nullif(err->'extra', 'null'::jsonb))::json;
    END;

    IF p_idem_key IS NOT NULL THEN
        IF reply_status < 500 THEN
            UPDATE idempotency i SET status = reply_status, body = reply_body::jsonb
            WHERE i.cn = p_cn AND i.key = p_idem_key;
        ELSE
            DELETE FROM idempotency i WHERE i.cn = p_cn AND i.key = p_idem_key;
        END IF;
    END IF;
    RETURN QUERY SELECT reply_status, reply_body;
END $$;

-- Forgets idempotency keys older than 24 hours; the timing engine calls it. Returns how many.
CREATE FUNCTION idempotency_sweep(p_now timestamptz) RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM idempotency WHERE created_at < $1 - interval '24 hours' RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

-- The stored test clock, NULL when it was never set.
CREATE FUNCTION clock_load() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT c.now FROM clock_state c $$;

-- GET /v1/clock: the daemon's clock as this request saw it.
CREATE FUNCTION op_clock_get(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 200, jsonb_build_object('now', $1->'now')
$$;

-- PUT /v1/clock {"now": INSTANT}: stores the test clock (it survives restarts) and tells every
-- daemon. The clock may be moved backwards; due events already decided stay decided.
CREATE FUNCTION op_clock_set(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    new_now timestamptz := arg_instant(arg_required(args->'body', 'now'), 'now');
    old_now timestamptz := clock_load();
BEGIN
    INSERT INTO clock_state (singleton, now) VALUES (true, new_now)
    ON CONFLICT (singleton) DO UPDATE SET now = excluded.now;
    PERFORM audit(ctx, 'clock_set', NULL,
                  jsonb_build_object('from', old_now, 'to', new_now));
    -- The periodic top-up of round deadlines (due_rounds_schedule) reschedules itself 6 hours
    -- after the instant it last ran. Its first run may have been at start-up, on the machine's
    -- date, before the first PUT /v1/clock: a clock set back before that would never reach it
    -- again. Moved back, the clock re-arms it at its new instant (SPEC section 8: one clock).
    IF NOT EXISTS (SELECT 1 FROM due_events
                    WHERE kind = 'rounds_schedule' AND due_at <= new_now + interval '6 hours') THEN
        DELETE FROM due_events WHERE kind = 'rounds_schedule';
        PERFORM due_schedule('rounds_schedule', 0, NULL, new_now);
    END IF;
    PERFORM pg_notify('rc_clock', to_jsonb(new_now) #>> '{}');
    RETURN QUERY SELECT 200, jsonb_build_object('now', to_jsonb(new_now));
END $$;

-- ---------------------------------------------------------------------------------------------
-- Shared lookups and JSON shapes
-- ---------------------------------------------------------------------------------------------

-- Whether a body member is given with a value. Given as JSON null is refused: the fields these
-- ops read this way cannot be cleared.
CREATE FUNCTION arg_given(p_body jsonb, p_name text, p_prefix text DEFAULT '')
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_body IS NULL OR jsonb_typeof(p_body) <> 'object' OR NOT p_body ? p_name THEN
        RETURN false;
    END IF;
    IF jsonb_typeof(p_body->p_name) = 'null' THEN
        PERFORM fail(400, 'bad_field', p_prefix || p_name || ' must not be null',
                     p_prefix || p_name);
    END IF;
    RETURN true;
END $$;

-- A non-empty string member of at most max_len characters, or NULL when not given.
CREATE FUNCTION arg_text(p_body jsonb, p_name text, p_max_len int DEFAULT 10000,
                         p_prefix text DEFAULT '')
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    value text;
BEGIN
    IF NOT arg_given(p_body, p_name, p_prefix) THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_body->p_name) <> 'string' THEN
        PERFORM fail(400, 'bad_field', p_prefix || p_name || ' must be a string',
                     p_prefix || p_name);
    END IF;
    value := p_body->>p_name;
    IF length(btrim(value)) = 0 OR length(value) > p_max_len THEN
        PERFORM fail(400, 'bad_field',
                     format('%s%s must be 1 to %s characters and not blank', p_prefix, p_name,
                            p_max_len),
                     p_prefix || p_name);
    END IF;
    RETURN value;
END $$;

-- The names of the fields a request body gives, sorted: what an audit row says was changed
-- (names only; the values are in the tables).
CREATE FUNCTION body_fields(p_body jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(k ORDER BY k), '[]'::jsonb) FROM jsonb_object_keys($1) AS k
$$;

-- Completed years between two dates, as PostgreSQL's age() counts them (SPEC section 1).
CREATE FUNCTION age_years(p_date_of_birth date, p_on_date date) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT extract(year FROM age($2::timestamp, $1::timestamp))::int
$$;

-- The local calendar date of an instant at a centre (NULL for an unknown centre).
CREATE FUNCTION centre_local_date(p_centre text, p_at timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT ($2 AT TIME ZONE c.timezone)::date FROM centres c WHERE c.id = $1
$$;

-- The instant of local time `p_local` in time zone `p_tz`. Ordinary local times have exactly one
-- instant; on daylight-saving days the local time is read with the UTC offset in force before
-- the change (Python's zoneinfo with fold=0, java.time's default):
--   * a time in the skipped hour (2026-03-29 02:30 Europe/Copenhagen) is read as CET, +01:00:
--     01:30Z, which the clock shows as 03:30 CEST (the round moves on by the length of the gap);
--   * a time in the repeated hour (2026-10-25 02:30) is read as CEST, +02:00: 00:30Z, its first
--     occurrence, so a round is never scheduled an hour after its clock time was first shown.
-- PostgreSQL's `local AT TIME ZONE tz` agrees on the skipped hour but takes the second
-- occurrence of a repeated one, hence this function. See docs/decisions.md.
CREATE FUNCTION local_instant(p_local timestamp, p_tz text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    standard timestamptz := p_local AT TIME ZONE p_tz;
    offset_before interval;
    candidate timestamptz;
BEGIN
    -- The offset a day earlier is the one in force before any change near this local time
    -- (zones change offset at most every few months).
    offset_before := ((standard - interval '1 day') AT TIME ZONE p_tz)
                     - ((standard - interval '1 day') AT TIME ZONE 'UTC');
    candidate := (p_local - offset_before) AT TIME ZONE 'UTC';
    IF candidate <> standard
       AND ((candidate AT TIME ZONE p_tz) = p_local            -- the first of a repeated time
            OR (standard AT TIME ZONE p_tz) <> p_local) THEN   -- a skipped time
        RETURN candidate;
    END IF;
    RETURN standard;
END $$;
