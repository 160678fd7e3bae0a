-- Accounts, scope and audit: the account operations, the centre check every operation makes,
-- the audit rows of every read and change, and the audit log's append-only triggers.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- No exception, not even for the sealer: seals live in audit_seals (audit_chain.sql).
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();

CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();

-- ---------------------------------------------------------------------------------------------
-- Scope and audit
-- ---------------------------------------------------------------------------------------------

-- The centre a request acts on, if the account may see it: 404 when it does not exist, 403 when
-- it is not one of the account's centres (admins see every centre).
CREATE FUNCTION require_centre(ctx jsonb, p_centre text) RETURNS centres
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found_centre centres;
BEGIN
    SELECT * INTO found_centre FROM centres c WHERE c.id = p_centre;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', format('there is no centre %L', p_centre));
    END IF;
    IF ctx->>'role' <> 'admin' AND NOT coalesce(ctx->'centres' ? p_centre, false) THEN
        PERFORM fail(403, 'forbidden', format('centre %L is not one of your centres', p_centre));
    END IF;
    RETURN found_centre;
END $$;

-- An object the request names by its id (a resident, an absence, an alert, an incident), of
-- centre p_centre (NULL: there is none, 404). An account not at that centre gets 403 naming
-- only the object it asked for, never the centre it belongs to (docs/authorization.md).
CREATE FUNCTION require_object(ctx jsonb, p_what text, p_id text, p_centre text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_centre IS NULL THEN
        PERFORM fail(404, 'not_found', format('there is no %s %s', p_what, p_id), 'id');
    END IF;
    IF ctx->>'role' <> 'admin' AND NOT coalesce(ctx->'centres' ? p_centre, false) THEN
        PERFORM fail(403, 'forbidden',
                     format('%s %s is not at any of your centres', p_what, p_id), 'id');
    END IF;
END $$;

-- One audit row. Internal: ops use audit() / audit_many(); api() uses it for refusals.
CREATE FUNCTION audit_write(ctx jsonb, p_action text, p_resident bigint, p_outcome text,
                            p_detail jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- PL/pgSQL, as audit() and audit_many(): every request calls one of them, and a SQL
    -- function would have its INSERT planned again on each call (docs/performance.md).
    INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome, detail)
    VALUES ((ctx->>'now')::timestamptz, ctx->>'cn', ctx->>'role', p_action, p_resident,
            ctx->>'request_id', ctx->>'remote', p_outcome, p_detail);
END $$;

-- Records that the request read or changed something (a resident's data when resident is set).
CREATE FUNCTION audit(ctx jsonb, p_action text, p_resident bigint, p_detail jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome, detail)
    VALUES ((ctx->>'now')::timestamptz, ctx->>'cn', ctx->>'role', p_action, p_resident,
            ctx->>'request_id', ctx->>'remote', 'ok', p_detail);
END $$;

-- One row per distinct resident, for lists.
CREATE FUNCTION audit_many(ctx jsonb, p_action text, p_residents bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome)
    SELECT (ctx->>'now')::timestamptz, ctx->>'cn', ctx->>'role', p_action, r,
           ctx->>'request_id', ctx->>'remote', 'ok'
    FROM (SELECT DISTINCT unnest(p_residents) AS r) AS named
    WHERE r IS NOT NULL
    ORDER BY r;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Start-up and the test clock
-- ---------------------------------------------------------------------------------------------

-- Gives the configured certificate CN the admin role on first start; an existing account of
-- that name is left exactly as it is (an operator may have disabled it on purpose).
CREATE FUNCTION bootstrap_admin(p_cn text, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accounts (cn, role, created_at) VALUES ($1, 'admin', $2)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO audit (at, cn, role, action, outcome, detail)
        VALUES ($2, $1, 'admin', 'bootstrap_admin', 'ok', jsonb_build_object('cn', $1));
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Accounts (admin)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION account_json(p_cn text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.cn,
        'cn', a.cn,
        'role', a.role,
        'centres', coalesce((SELECT jsonb_agg(ac.centre ORDER BY ac.centre)
                             FROM account_centres ac WHERE ac.cn = a.cn), '[]'::jsonb),
        'authority', a.authority,
        'disabled', a.disabled,
        'created_at', a.created_at)
    FROM accounts a WHERE a.cn = $1
$$;

-- Replaces an account's centres with the (validated) JSON array `centres`.
CREATE FUNCTION account_centres_set(p_cn text, p_centres jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    element jsonb;
    position bigint;
BEGIN
    IF jsonb_typeof(p_centres) <> 'array' THEN
        PERFORM fail(400, 'bad_field', 'centres must be an array of centre ids', 'centres');
    END IF;
    FOR element, position IN
        SELECT e, i - 1 FROM jsonb_array_elements(p_centres) WITH ORDINALITY AS t(e, i) ORDER BY i
    LOOP
        IF jsonb_typeof(element) <> 'string'
           OR NOT EXISTS (SELECT 1 FROM centres c WHERE c.id = element #>> '{}') THEN
            PERFORM fail(422, 'unknown_centre', format('there is no centre %s', element),
                         format('centres[%s]', position));
        END IF;
    END LOOP;
    DELETE FROM account_centres ac WHERE ac.cn = p_cn;
    INSERT INTO account_centres (cn, centre)
    SELECT DISTINCT p_cn, e #>> '{}' FROM jsonb_array_elements(p_centres) AS e;
END $$;

-- The authority field must be given exactly for the authority role.
CREATE FUNCTION account_check_authority(p_role text, p_authority text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_role NOT IN ('staff', 'oncall', 'manager', 'admin', 'authority', 'metrics') THEN
        PERFORM fail(400, 'bad_field',
                     'role must be one of staff, oncall, manager, admin, authority, metrics',
                     'role');
    END IF;
    IF p_authority IS NOT NULL AND p_authority NOT IN ('municipality', 'police', 'immigration') THEN
        PERFORM fail(400, 'bad_field',
                     'authority must be one of municipality, police, immigration', 'authority');
    END IF;
    IF (p_role = 'authority') <> (p_authority IS NOT NULL) THEN
        PERFORM fail(400, 'bad_field',
                     'authority is required for the authority role and only allowed for it',
                     'authority');
    END IF;
END $$;

-- POST /v1/accounts
CREATE FUNCTION op_account_create(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    new_cn text := arg_text(b, 'cn', 64);
    new_role text := arg_required(b, 'role');
    new_authority text := b->>'authority';
BEGIN
    IF new_cn IS NULL THEN
        PERFORM fail(400, 'missing_field', 'cn is required', 'cn');
    END IF;
    PERFORM account_check_authority(new_role, new_authority);
    INSERT INTO accounts (cn, role, authority, disabled, created_at)
    VALUES (new_cn, new_role, new_authority, coalesce((b->>'disabled')::boolean, false),
            ctx_now(ctx))
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM fail(409, 'conflict', format('an account %L already exists', new_cn), 'cn');
    END IF;
    PERFORM account_centres_set(new_cn, coalesce(b->'centres', '[]'::jsonb));
    PERFORM audit(ctx, 'account_create', NULL, account_json(new_cn));
    RETURN QUERY SELECT 201, account_json(new_cn);
END $$;

-- GET /v1/accounts?limit=&after=  (ordered by cn; the cursor is the last cn)
CREATE FUNCTION op_account_list(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := page_limit(args);
    after_cn text := page_after(args);
BEGIN
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(account_json(a.cn) ORDER BY a.cn COLLATE "C"), '[]'),
                     lim, 'cn')
    FROM (SELECT ac.cn FROM accounts ac
          WHERE after_cn IS NULL OR ac.cn COLLATE "C" > after_cn
          ORDER BY ac.cn COLLATE "C" LIMIT lim + 1) AS a;
END $$;

-- PATCH /v1/accounts/{cn}: any of cn (rename), role, centres, authority, disabled.
CREATE FUNCTION op_account_patch(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    prev accounts;
    new_cn text;
    new_role text;
    new_authority text;
    new_disabled boolean;
    kept_centres jsonb;
BEGIN
    SELECT * INTO prev FROM accounts a WHERE a.cn = args->'path'->>'cn' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM fail(404, 'not_found', format('there is no account %L', args->'path'->>'cn'));
    END IF;
    new_cn := coalesce(arg_text(b, 'cn', 64), prev.cn);
    new_role := CASE WHEN arg_given(b, 'role') THEN b->>'role' ELSE prev.role END;
    -- Leaving the authority role drops the authority unless the request says otherwise.
    new_authority := CASE WHEN b ? 'authority' THEN b->>'authority'
                          WHEN new_role = 'authority' THEN prev.authority END;
    new_disabled := CASE WHEN arg_given(b, 'disabled') THEN (b->>'disabled')::boolean
                         ELSE prev.disabled END;
    PERFORM account_check_authority(new_role, new_authority);

    -- Nobody could administer the deployment any more (the bootstrap admin is only created
    -- when its account does not exist).
    IF prev.role = 'admin' AND NOT prev.disabled AND (new_role <> 'admin' OR new_disabled)
       AND NOT EXISTS (SELECT 1 FROM accounts a
                       WHERE a.role = 'admin' AND NOT a.disabled AND a.cn <> prev.cn) THEN
        PERFORM fail(409, 'last_admin', 'this is the last enabled admin account',
                     CASE WHEN new_disabled THEN 'disabled' ELSE 'role' END);
    END IF;

    IF new_cn <> prev.cn THEN
        IF EXISTS (SELECT 1 FROM accounts a WHERE a.cn = new_cn) THEN
            PERFORM fail(409, 'conflict', format('an account %L already exists', new_cn), 'cn');
        END IF;
        SELECT coalesce(jsonb_agg(ac.centre), '[]'::jsonb) INTO kept_centres
        FROM account_centres ac WHERE ac.cn = prev.cn;
        -- account_centres references accounts(cn) without ON UPDATE: move them by hand.
        DELETE FROM account_centres ac WHERE ac.cn = prev.cn;
        UPDATE accounts a SET cn = new_cn WHERE a.cn = prev.cn;
        PERFORM account_centres_set(new_cn, kept_centres);
    END IF;
    UPDATE accounts a SET role = new_role, authority = new_authority, disabled = new_disabled
    WHERE a.cn = new_cn;
    IF b ? 'centres' THEN
        PERFORM account_centres_set(new_cn, coalesce(b->'centres', '[]'::jsonb));
    END IF;
    PERFORM audit(ctx, 'account_patch', NULL,
                  jsonb_build_object('cn', prev.cn, 'fields', body_fields(b),
                                     'account', account_json(new_cn)));
    RETURN QUERY SELECT 200, account_json(new_cn);
END $$;

-- GET /v1/audit?resident=&account=&from=&to=&limit=&after= (admin), oldest first by id;
-- from is inclusive, to exclusive.
CREATE FUNCTION op_audit_list(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    q jsonb := args->'query';
    resident_id bigint := arg_id(q->>'resident', 'resident');
    account text := q->>'account';
    from_at timestamptz := arg_instant(q->>'from', 'from');
    to_at timestamptz := arg_instant(q->>'to', 'to');
    lim int := page_limit(args);
    after_id bigint := page_after_id(args);
BEGIN
    IF resident_id IS NOT NULL THEN
        PERFORM audit(ctx, 'audit_list', resident_id);
    END IF;
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(jsonb_build_object(
               'id', a.id, 'at', a.at, 'cn', a.cn, 'role', a.role, 'action', a.action,
               'resident', a.resident, 'request_id', a.request_id, 'remote', a.remote,
               'outcome', a.outcome, 'detail', a.detail) ORDER BY a.id), '[]'), lim)
    FROM (SELECT * FROM audit x
          WHERE x.id > after_id
            AND (resident_id IS NULL OR x.resident = resident_id)
            AND (account IS NULL OR x.cn = account)
            AND (from_at IS NULL OR x.at >= from_at)
            AND (to_at IS NULL OR x.at < to_at)
          ORDER BY x.id LIMIT lim + 1) AS a;
END $$;

-- The centres an account may see, for lists without ?centre= (NULL: all, for admins).
CREATE FUNCTION ctx_centres(ctx jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ctx->>'role' = 'admin' THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text(coalesce(ctx->'centres', '[]')))
           END
$$;
