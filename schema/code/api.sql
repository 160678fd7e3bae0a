-- The API dispatcher api() (one SQL statement per request, docs/DESIGN.md) and the helpers every
-- operation uses: refusals, argument readers, pagination, the idempotency sweep, the test clock,
-- and local-time helpers. Every instant arrives as a parameter; nothing reads the database clock.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Refusals
-- ---------------------------------------------------------------------------------------------

-- Refuses the request: raises SQLSTATE RCAPP, which api() catches, rolling back everything the
-- op wrote. `extra` (optional) is merged into the top level of the error answer, for refusals
-- that must show something (e.g. a 409 showing the first payout: fail(409, 'already_paid', ...,
-- NULL, jsonb_build_object('payout', ...))).
CREATE FUNCTION fail(status int, code text, message text, field text DEFAULT NULL,
                     extra jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'RCAPP',
        MESSAGE = fail.message,
        DETAIL = jsonb_build_object('status', fail.status, 'code', fail.code,
                                    'field', fail.field, 'extra', fail.extra)::text;
END $$;

-- The error document of SPEC section 10; field is JSON null when the refusal names none.
CREATE FUNCTION error_body(code text, message text, field text DEFAULT NULL,
                           extra jsonb DEFAULT NULL) RETURNS jsonb
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
CREATE FUNCTION arg_date(value text, field text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    IF value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM fail(400, 'bad_field', field || ' must be a date (YYYY-MM-DD)', field);
    END IF;
    RETURN value::date;
EXCEPTION
    WHEN datetime_field_overflow OR invalid_datetime_format THEN
        PERFORM fail(400, 'bad_field', field || ' must be a real calendar date', field);
        RETURN NULL;
END $$;

CREATE FUNCTION arg_instant(value text, field text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    IF value !~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?'
                 '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$') THEN
        PERFORM fail(400, 'bad_field', field || ' must be an RFC 3339 instant with offset', field);
    END IF;
    RETURN value::timestamptz;
EXCEPTION
    WHEN datetime_field_overflow OR invalid_datetime_format THEN
        PERFORM fail(400, 'bad_field', field || ' must be a real instant', field);
        RETURN NULL;
END $$;

CREATE FUNCTION arg_id(value text, field text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    IF value !~ '^[0-9]{1,18}$' OR value::bigint = 0 THEN
        PERFORM fail(400, 'bad_field', field || ' must be a positive integer id', field);
    END IF;
    RETURN value::bigint;
END $$;

CREATE FUNCTION arg_int(value text, field text, low int, high int) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    IF value !~ '^-?[0-9]{1,9}$' OR value::int NOT BETWEEN low AND high THEN
        PERFORM fail(400, 'bad_field',
                     format('%s must be an integer between %s and %s', field, low, high), field);
    END IF;
    RETURN value::int;
END $$;

-- A required member of a body: 400 missing_field when absent or null.
CREATE FUNCTION arg_required(body jsonb, name text, prefix text DEFAULT '') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF body->name IS NULL OR jsonb_typeof(body->name) = 'null' THEN
        PERFORM fail(400, 'missing_field', prefix || name || ' is required', prefix || name);
    END IF;
    RETURN body->>name;
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

-- {"items": the first `lim` of `items`, "next": the key of the last one, or null when `items`
-- holds no more than `lim` (there is no further page)}.
CREATE FUNCTION page(items jsonb, lim int, key text DEFAULT 'id') RETURNS jsonb
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
CREATE FUNCTION api_named_residents(op text, args jsonb) RETURNS bigint[]
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
CREATE FUNCTION api_refuse(ctx jsonb, op text, args jsonb, status int, code text, message text,
                           field text, extra jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    named bigint[] := api_named_residents(op, args);
    detail jsonb := jsonb_build_object('status', status, 'message', message);
BEGIN
    IF cardinality(named) > 0 THEN
        PERFORM audit_write(ctx, op, r, 'refused:' || code, detail) FROM unnest(named) AS r;
    ELSIF jsonb_typeof(args->'body') = 'object' THEN
        PERFORM audit_write(ctx, op, NULL, 'refused:' || code, detail);
    END IF;
    RETURN error_body(code, message, field, extra);
END $$;

-- One API request. See docs/DESIGN.md: account and role check, idempotency, the op inside a
-- savepoint, refusal audit, the stored reply. Errors other than fail()'s propagate to the daemon
-- (503 / retry / 500) and roll back everything, the idempotency key included.
CREATE FUNCTION api(op text, cn text, args jsonb, now timestamptz, idem_key text,
                    req_hash text, remote text, request_id text, roles text[])
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
    IF api.op IS NULL OR api.op !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'api(): op % is not an operation name', api.op;
    END IF;
    SELECT * INTO account FROM accounts a WHERE a.cn = api.cn;
    ctx := jsonb_build_object(
        'cn', api.cn,
        'role', account.role,
        'authority', account.authority,
        'centres', coalesce((SELECT jsonb_agg(ac.centre ORDER BY ac.centre)
                             FROM account_centres ac WHERE ac.cn = api.cn), '[]'::jsonb),
        'now', to_jsonb(api.now),
        'request_id', api.request_id,
        'remote', api.remote,
        'op', api.op);

    IF account.cn IS NULL OR account.disabled THEN
        RETURN QUERY SELECT 403, api_refuse(ctx, api.op, api.args, 403, 'forbidden',
            CASE WHEN account.cn IS NULL THEN 'no account for this certificate'
                 ELSE 'this account is disabled' END, NULL)::json;
        RETURN;
    END IF;
    IF NOT account.role = ANY (coalesce(api.roles, '{}')) THEN
        RETURN QUERY SELECT 403, api_refuse(ctx, api.op, api.args, 403, 'forbidden',
            format('the %s role may not do this', account.role), NULL)::json;
        RETURN;
    END IF;

    -- Claim the key first: a concurrent twin blocks on this INSERT until the first request
    -- commits, then finds its stored reply below instead of acting a second time.
    IF api.idem_key IS NOT NULL THEN
        INSERT INTO idempotency (cn, key, req_hash, created_at)
        VALUES (api.cn, api.idem_key, coalesce(api.req_hash, ''), api.now)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT * INTO stored FROM idempotency i
            WHERE i.cn = api.cn AND i.key = api.idem_key;
            IF stored.req_hash IS DISTINCT FROM coalesce(api.req_hash, '') THEN
                RETURN QUERY SELECT 422, api_refuse(ctx, api.op, api.args, 422,
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
            PERFORM audit_write(ctx, api.op, r, 'replayed',
                                jsonb_build_object('status', stored.status))
            FROM unnest(coalesce(nullif(api_named_residents(api.op, api.args), '{}'),
                                 ARRAY[NULL::bigint])) AS r;
            RETURN QUERY SELECT stored.status, stored.body::json;
            RETURN;
        END IF;
    END IF;

    BEGIN
        EXECUTE format('SELECT r.status, r.body FROM %I($1, $2) AS r', 'op_' || api.op)
            INTO reply_status, reply_body USING ctx, api.args;
        IF reply_status IS NULL THEN
            RAISE EXCEPTION 'op_%() returned no reply', api.op;
        END IF;
    EXCEPTION WHEN SQLSTATE 'RCAPP' THEN
        -- The savepoint of this block has undone the op's writes; record the refusal.
        GET STACKED DIAGNOSTICS err_detail = PG_EXCEPTION_DETAIL, err_message = MESSAGE_TEXT;
        err := err_detail::jsonb;
        reply_status := (err->>'status')::int;
        reply_body := api_refuse(ctx, api.op, api.args, reply_status, err->>'code', err_message,
                                 err->>'field', nullif(err->'extra', 'null'::jsonb))::json;
    END;

    IF api.idem_key IS NOT NULL THEN
        IF reply_status < 500 THEN
            UPDATE idempotency i SET status = reply_status, body = reply_body::jsonb
            WHERE i.cn = api.cn AND i.key = api.idem_key;
        ELSE
            DELETE FROM idempotency i WHERE i.cn = api.cn AND i.key = api.idem_key;
        END IF;
    END IF;
    RETURN QUERY SELECT reply_status, reply_body;
END $$;

-- Forgets idempotency keys older than 24 hours; the timing engine calls it. Returns how many.
CREATE FUNCTION idempotency_sweep(now timestamptz) RETURNS bigint
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

-- GET /metrics: api() has checked the admin role; the C handler builds the text.
CREATE FUNCTION op_metrics_auth(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE sql IMMUTABLE AS $$ SELECT 200, '{}'::jsonb $$;

-- ---------------------------------------------------------------------------------------------
-- Shared lookups and JSON shapes
-- ---------------------------------------------------------------------------------------------

-- Whether a body member is given with a value. Given as JSON null is refused: the fields these
-- ops read this way cannot be cleared.
CREATE FUNCTION arg_given(body jsonb, name text, prefix text DEFAULT '') RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF body IS NULL OR jsonb_typeof(body) <> 'object' OR NOT body ? name THEN
        RETURN false;
    END IF;
    IF jsonb_typeof(body->name) = 'null' THEN
        PERFORM fail(400, 'bad_field', prefix || name || ' must not be null', prefix || name);
    END IF;
    RETURN true;
END $$;

-- A non-empty string member of at most max_len characters, or NULL when not given.
CREATE FUNCTION arg_text(body jsonb, name text, max_len int DEFAULT 10000, prefix text DEFAULT '')
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    value text;
BEGIN
    IF NOT arg_given(body, name, prefix) THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(body->name) <> 'string' THEN
        PERFORM fail(400, 'bad_field', prefix || name || ' must be a string', prefix || name);
    END IF;
    value := body->>name;
    IF length(btrim(value)) = 0 OR length(value) > max_len THEN
        PERFORM fail(400, 'bad_field',
                     format('%s%s must be 1 to %s characters and not blank', prefix, name, max_len),
                     prefix || name);
    END IF;
    RETURN value;
END $$;

-- The names of the fields a request body gives, sorted: what an audit row says was changed
-- (names only; the values are in the tables).
CREATE FUNCTION body_fields(body jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(k ORDER BY k), '[]'::jsonb) FROM jsonb_object_keys($1) AS k
$$;

-- Completed years between two dates, as PostgreSQL's age() counts them (SPEC section 1).
CREATE FUNCTION age_years(date_of_birth date, on_date date) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT extract(year FROM age($2::timestamp, $1::timestamp))::int
$$;

-- The local calendar date of an instant at a centre (NULL for an unknown centre).
CREATE FUNCTION centre_local_date(centre text, at timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT ($2 AT TIME ZONE c.timezone)::date FROM centres c WHERE c.id = $1
$$;

-- The instant of local time `local` in time zone `tz`. Ordinary local times have exactly one
-- instant; on daylight-saving days the local time is read with the UTC offset in force before
-- the change (Python's zoneinfo with fold=0, java.time's default):
--   * a time in the skipped hour (2026-03-29 02:30 Europe/Copenhagen) is read as CET, +01:00:
--     01:30Z, which the clock shows as 03:30 CEST (the round moves on by the length of the gap);
--   * a time in the repeated hour (2026-10-25 02:30) is read as CEST, +02:00: 00:30Z, its first
--     occurrence, so a round is never scheduled an hour after its clock time was first shown.
-- PostgreSQL's `local AT TIME ZONE tz` agrees on the skipped hour but takes the second
-- occurrence of a repeated one, hence this function. See docs/decisions.md.
CREATE FUNCTION local_instant(local timestamp, tz text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    standard timestamptz := local AT TIME ZONE tz;
    offset_before interval;
    candidate timestamptz;
BEGIN
    -- The offset a day earlier is the one in force before any change near this local time
    -- (zones change offset at most every few months).
    offset_before := ((standard - interval '1 day') AT TIME ZONE tz)
                     - ((standard - interval '1 day') AT TIME ZONE 'UTC');
    candidate := (local - offset_before) AT TIME ZONE 'UTC';
    IF candidate <> standard
       AND ((candidate AT TIME ZONE tz) = local            -- the first of a repeated time
            OR (standard AT TIME ZONE tz) <> local) THEN   -- a skipped time
        RETURN candidate;
    END IF;
    RETURN standard;
END $$;
