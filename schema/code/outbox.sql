-- The outbox of notifications to the authorities (SPEC sections 5 and 10, Webhooks): enqueueing
-- in the transaction that decides, what the daemon's sender claims and writes back
-- (daemon/sender.c), the notification_failing check, and GET /v1/notifications.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- Document parts shared by every webhook type
-- ---------------------------------------------------------------------------------------------

-- The centre as authorities see it in a webhook body.
CREATE FUNCTION outbox_centre_json(p_centre text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.id, 'name', c.name, 'operator', c.operator)
      FROM centres c WHERE c.id = p_centre
$$;

-- The resident as authorities see it, with the age in completed years on a date (as
-- PostgreSQL's age() computes it).
CREATE FUNCTION outbox_resident_json(p_resident bigint, p_on date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'case_number', r.case_number, 'given_name', r.given_name,
        'family_name', r.family_name, 'date_of_birth', r.date_of_birth,
        'age', extract(year FROM age(p_on::timestamp, r.date_of_birth::timestamp))::integer)
      FROM residents r WHERE r.id = p_resident
$$;

-- Writes notifications: per item an outbox row and one delivery row per authority kind, each
-- with its own event id that every retry reuses, schedules the notification_failing checks and
-- wakes the senders once. `payload` is the webhook body without event_id (a "type" inside it is
-- replaced by the item's type; a missing "centre" is filled in). `resident` may be NULL: it is
-- then taken from the absence, or from payload.resident.case_number. Returns each item's outbox
-- id with its position in p_items. Misuse (unknown kinds, no kinds, a payload that is not an
-- object) raises for the whole call: losing a notification quietly is worse than failing the
-- decision that wanted it.
CREATE FUNCTION outbox_enqueue_many(p_items outbox_item[], p_now timestamptz)
RETURNS TABLE(item_ord bigint, outbox_id bigint) LANGUAGE plpgsql AS $$
DECLARE
    problem text;
    failing_after interval;
    outbox_ids bigint[];
    check_centres text[];
    check_at timestamptz[];
BEGIN
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'outbox_enqueue: now is required';
    END IF;
    SELECT x.problem INTO problem FROM (
        SELECT CASE
                 WHEN i.kinds IS NULL OR cardinality(i.kinds) = 0
                      OR NOT i.kinds <@ ARRAY['municipality', 'police', 'immigration']
                   THEN format('bad authority kinds %s', i.kinds)
                 WHEN i.due_at IS NULL THEN 'due_at and now are required'
                 WHEN i.payload IS NULL OR jsonb_typeof(i.payload) <> 'object'
                   THEN format('the payload of %s must be a JSON object', i.type)
               END AS problem
          FROM unnest(p_items) i) x
     WHERE x.problem IS NOT NULL
     LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'outbox_enqueue: %', problem;
    END IF;
    SELECT s.failing_after INTO failing_after FROM notification_settings s;

    -- One statement: ids are drawn first so that each item's deliveries can name its outbox
    -- row (the foreign key is checked at the end of the statement). Rows are written in the
    -- order the scans give (the items' order); no sort, which would spill to disk for a big
    -- batch: nothing depends on the order of ids within one call.
    WITH items AS MATERIALIZED (
        SELECT u.ord, nextval(pg_get_serial_sequence('outbox', 'id')) AS id, u.centre, u.type,
               CASE WHEN x.b ? 'centre' THEN x.b
                    ELSE x.b || jsonb_build_object('centre', outbox_centre_json(u.centre))
               END AS body,
               u.kinds, u.due_at, u.absence,
               coalesce(u.resident,
                        (SELECT a.resident FROM absences a WHERE a.id = u.absence),
                        (SELECT r.id FROM residents r
                          WHERE r.case_number = x.b #>> '{resident,case_number}')) AS resident
          FROM unnest(p_items) WITH ORDINALITY
               AS u(centre, type, payload, kinds, due_at, absence, resident, ord),
               LATERAL (SELECT (u.payload - 'event_id')
                               || jsonb_build_object('type', u.type) AS b) x
    ), o AS (
        INSERT INTO outbox (id, centre, type, absence, resident, payload, due_at, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT i.id, i.centre, i.type, i.absence, i.resident, i.body, i.due_at, p_now
          FROM items i
    ), d AS (
        INSERT INTO deliveries (outbox, event_id, type, centre, authority, absence, due_at,
                                next_attempt_at)
        SELECT i.id, 'evt_' || replace(gen_random_uuid()::text, '-', ''), i.type, i.centre,
               k.k, i.absence, i.due_at, i.due_at
          FROM items i,
               LATERAL (SELECT DISTINCT unnest(i.kinds) AS k ORDER BY 1) k
    )
    SELECT array_agg(i.id ORDER BY i.ord), array_agg(i.centre ORDER BY i.ord),
           array_agg(i.due_at + coalesce(failing_after, interval '15 minutes') ORDER BY i.ord)
      INTO outbox_ids, check_centres, check_at
      FROM items i;
    -- One check per notification, not per delivery: after a restart thousands are written at
    -- once, and each check row is written, claimed and deleted.
    PERFORM due_schedule_many('outbox_check', outbox_ids, check_centres, check_at);
    PERFORM pg_notify('rc_outbox', '');
    RETURN QUERY SELECT u.ord, u.id FROM unnest(outbox_ids) WITH ORDINALITY AS u(id, ord);
END $$;

-- Writes one notification (see outbox_enqueue_many). Returns the outbox id.
CREATE FUNCTION outbox_enqueue_for(p_centre text, p_type text, p_payload jsonb, p_kinds text[],
                                   p_due_at timestamptz, p_absence bigint, p_resident bigint,
                                   p_now timestamptz)
RETURNS bigint LANGUAGE sql AS $$
    SELECT e.outbox_id FROM outbox_enqueue_many(
        ARRAY[ROW(p_centre, p_type, p_payload, p_kinds, p_due_at, p_absence,
                  p_resident)::outbox_item], p_now) e
$$;

-- The contract of DESIGN.md: as outbox_enqueue_for, with the resident found from the absence or
-- the payload.
CREATE FUNCTION outbox_enqueue(p_centre text, p_type text, p_payload jsonb, p_kinds text[],
                               p_due_at timestamptz, p_absence bigint, p_now timestamptz)
RETURNS bigint LANGUAGE sql AS $$
    SELECT outbox_enqueue_for($1, $2, $3, $4, $5, $6, NULL, $7)
$$;

-- ---------------------------------------------------------------------------------------------
-- The sender's side (daemon/sender.c)
-- ---------------------------------------------------------------------------------------------

-- Claims up to p_max deliveries that are due on the daemon clock (p_now) and not leased (leases
-- compare with the wall clock p_wall), for p_owner until p_lease_until. Rows are skipped, not
-- waited for, when another instance holds them (SKIP LOCKED), so each row is sent by one
-- instance at a time. Two further rules:
--   * per absence and authority, an event waits until the earlier ones are delivered, so an
--     authority never hears "returned" before "reported";
--   * at most p_group_cap attempts run at once per centre and authority, counted over every
--     instance's live leases, so one dead or slow endpoint cannot occupy every slot.
-- Returns what one attempt needs: the endpoint and secret are read now, so a corrected URL or a
-- rotated secret applies to the next attempt. An absence.reported delivery gets its own body at
-- its first claim (receipt_delivery_body: that authority's profile fields and the receipt_url
-- under p_public_url), stored on the row so that every retry sends the same.
CREATE FUNCTION outbox_claim(p_owner text, p_now timestamptz, p_wall timestamptz,
                             p_lease_until timestamptz, p_max integer, p_group_cap integer,
                             p_public_url text DEFAULT NULL)
RETURNS TABLE(id bigint, event_id text, type text, authority text, centre text, url text,
              secret text, payload jsonb, attempts integer)
LANGUAGE plpgsql AS $$
BEGIN
    -- Per centre and authority only the first (cap - live leases) sendable rows are read,
    -- from deliveries_pending in sending order: a claim costs the same with ten thousand
    -- deliveries waiting as with ten.
    RETURN QUERY
    WITH busy AS (
        SELECT b.centre, b.authority, count(*)::integer AS n
          FROM deliveries b
         WHERE b.delivered_at IS NULL AND b.lease_until > p_wall
         GROUP BY b.centre, b.authority
    ), ready AS (
        SELECT r.id, r.next_attempt_at
          FROM centres c
         CROSS JOIN unnest(ARRAY['municipality', 'police', 'immigration']) AS k(authority)
          LEFT JOIN busy ON busy.centre = c.id AND busy.authority = k.authority
         CROSS JOIN LATERAL (
            SELECT r.id, r.next_attempt_at FROM deliveries r
             WHERE r.centre = c.id AND r.authority = k.authority
               AND r.delivered_at IS NULL
               AND r.next_attempt_at <= p_now AND r.due_at <= p_now
               AND (r.lease_until IS NULL OR r.lease_until <= p_wall)
               AND NOT EXISTS (
                    SELECT 1 FROM deliveries e
                     WHERE r.absence IS NOT NULL AND e.absence = r.absence
                       AND e.authority = r.authority AND e.id < r.id
                       AND e.delivered_at IS NULL)
             ORDER BY r.next_attempt_at, r.id
             LIMIT greatest(p_group_cap - coalesce(busy.n, 0), 0)) r
    ), picked AS (
        SELECT p.id FROM deliveries p
         WHERE p.id = ANY (ARRAY(SELECT ready.id FROM ready))
         ORDER BY p.next_attempt_at, p.id
         LIMIT p_max
           FOR UPDATE OF p SKIP LOCKED
    )
    UPDATE deliveries d
       SET lease_owner = p_owner, lease_until = p_lease_until,
           payload = CASE WHEN d.type = 'absence.reported' AND d.payload IS NULL
                          THEN receipt_delivery_body(d, p_public_url) ELSE d.payload END
      FROM picked
     WHERE d.id = picked.id
       AND d.delivered_at IS NULL
       AND (d.lease_until IS NULL OR d.lease_until <= p_wall)
    RETURNING d.id, d.event_id, d.type, d.authority, d.centre,
              (SELECT ca.url FROM centre_authorities ca
                WHERE ca.centre = d.centre AND ca.kind = d.authority),
              (SELECT ca.secret FROM centre_authorities ca
                WHERE ca.centre = d.centre AND ca.kind = d.authority),
              coalesce(d.payload, (SELECT o.payload FROM outbox o WHERE o.id = d.outbox)),
              d.attempts;
END $$;

-- The sender's write-backs are short and never wait for a lock: the timing engine decides due
-- rows in batches of a few hundred per transaction, and a batch holding a delivery row (the
-- notification_failing check) or a centre's alert lock (alert_raise / alert_resolve) for a
-- second must not stall the sender, nor fill the daemon's small connection pool with statements
-- waiting on it. So a write-back that finds its row locked answers 'busy' (the daemon tries
-- again shortly), and the alert work that follows a delivery is handed to the timing engine as a
-- due row (notification_settle), decided in its own batches.

-- A 2xx answer: the delivery is done. Answers 'delivered', 'already' (recorded before: nothing
-- changes) or 'busy'. Whoever holds the lease, a delivery that happened is recorded. When the
-- endpoint had been failing, the other deliveries to it that wait in backoff are made due now
-- (it is back: the backlog goes out at once, not over the next backoff intervals); rows locked
-- elsewhere keep their backoff. The notification_failing alert (if any) is resolved, and
-- absence_reported raised, by due_notification_settle.
CREATE FUNCTION outbox_delivered(p_id bigint, p_owner text, p_now timestamptz,
                                 p_result text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d deliveries;
    pulled integer;
BEGIN
    SELECT * INTO d FROM deliveries WHERE deliveries.id = p_id
       FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE deliveries.id = p_id)
                    THEN 'busy' ELSE 'already' END;
    END IF;
    IF d.delivered_at IS NOT NULL THEN
        RETURN 'already';
    END IF;
    UPDATE deliveries
       SET delivered_at = p_now, attempts = attempts + 1, last_attempt_at = p_now,
           lease_owner = NULL, lease_until = NULL
     WHERE deliveries.id = p_id;

    UPDATE deliveries b
       SET next_attempt_at = p_now
     WHERE b.id IN (
        SELECT w.id FROM deliveries w
         WHERE w.centre = d.centre AND w.authority = d.authority AND w.delivered_at IS NULL
           AND w.attempts > 0 AND w.next_attempt_at > p_now AND w.due_at <= p_now
           AND w.lease_owner IS NULL
           FOR NO KEY UPDATE SKIP LOCKED);
    GET DIAGNOSTICS pulled = ROW_COUNT;
    IF pulled > 0 OR (d.absence IS NOT NULL AND EXISTS (
            SELECT 1 FROM deliveries n
             WHERE n.absence = d.absence AND n.authority = d.authority AND n.id > d.id
               AND n.delivered_at IS NULL)) THEN
        -- Rows that were waiting on this one are sendable now, on any instance.
        PERFORM pg_notify('rc_outbox', '');
    END IF;
    IF d.failing_alert IS NOT NULL OR d.type = 'absence.reported' THEN
        PERFORM due_schedule('notification_settle', d.id, d.centre, p_now);
    END IF;
    RETURN 'delivered';
END $$;

-- Due (scheduled by outbox_delivered at the instant of delivery): resolves the delivery's
-- notification_failing alert, and when every authority of an absence.reported event has it,
-- raises absence_reported, once per event. Deciding it twice changes nothing.
CREATE FUNCTION due_notification_settle(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d deliveries;
    o outbox;
    absence_open boolean := true;
    alert_id bigint;
BEGIN
    SELECT * INTO d FROM deliveries WHERE deliveries.id = p_ref;
    IF NOT FOUND OR d.delivered_at IS NULL THEN
        RETURN;
    END IF;
    IF d.failing_alert IS NOT NULL THEN
        PERFORM alert_resolve(d.failing_alert, p_now);
    END IF;
    IF d.type <> 'absence.reported' THEN
        RETURN;
    END IF;
    PERFORM receipt_schedule(d);
    -- The outbox row lock serialises the settling of one event's deliveries (several engines
    -- may decide them at once): the second sees the first's alert.
    SELECT * INTO o FROM outbox WHERE outbox.id = d.outbox FOR UPDATE;
    IF o.reported_alert IS NOT NULL OR EXISTS (
            SELECT 1 FROM deliveries s WHERE s.outbox = o.id AND s.delivered_at IS NULL) THEN
        RETURN;
    END IF;
    IF o.absence IS NOT NULL THEN
        SELECT a.returned_at IS NULL INTO absence_open FROM absences a WHERE a.id = o.absence;
    END IF;
    -- After the resident has returned, "the authorities know he is missing" is news to nobody:
    -- the returned notice follows and resident_returned was raised.
    IF NOT coalesce(absence_open, true) THEN
        RETURN;
    END IF;
    alert_id := alert_raise(o.centre, 'absence_reported', o.resident, o.absence,
        jsonb_build_object(
            'reason', o.payload->>'reason',
            'authorities', (SELECT jsonb_agg(s.authority ORDER BY s.authority)
                              FROM deliveries s WHERE s.outbox = o.id),
            'event_ids', (SELECT jsonb_object_agg(s.authority, s.event_id)
                            FROM deliveries s WHERE s.outbox = o.id),
            'due_at', o.due_at,
            'delivered_at', (SELECT max(s.delivered_at) FROM deliveries s
                              WHERE s.outbox = o.id)),
        p_now);
    UPDATE outbox SET reported_alert = alert_id WHERE outbox.id = o.id;
END $$;

-- A failed attempt (non-2xx, TLS or connection failure, timeout): counts it, keeps the reason
-- and schedules the next attempt at p_next_attempt_at (the daemon computes the backoff with
-- jitter). Answers 'recorded', 'busy' (the row is locked: try again shortly) or 'lost' (the
-- lease ran out and another instance took the row, or it was delivered: that outcome counts).
CREATE FUNCTION outbox_failed(p_id bigint, p_owner text, p_error text, p_now timestamptz,
                              p_next_attempt_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d deliveries;
BEGIN
    SELECT * INTO d FROM deliveries WHERE deliveries.id = p_id
       FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE deliveries.id = p_id)
                    THEN 'busy' ELSE 'lost' END;
    END IF;
    IF d.delivered_at IS NOT NULL OR d.lease_owner IS DISTINCT FROM p_owner THEN
        RETURN 'lost';
    END IF;
    UPDATE deliveries
       SET attempts = attempts + 1, last_attempt_at = p_now,
           last_error = left(coalesce(p_error, 'unknown error'), 500),
           next_attempt_at = greatest(p_next_attempt_at, p_now),
           lease_owner = NULL, lease_until = NULL
     WHERE deliveries.id = p_id;
    RETURN 'recorded';
END $$;

-- At start-up: leases held under this instance's own name belong to a previous run that died
-- mid-delivery (kill -9). Nobody else can be sending them, so they are released at once rather
-- than when the lease expires. Returns how many.
CREATE FUNCTION outbox_release(p_owner text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    m integer;
BEGIN
    UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
     WHERE lease_owner = p_owner AND delivered_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- The on-call channels' deliveries (oncall.sql) go through the same sender.
    UPDATE channel_deliveries SET lease_owner = NULL, lease_until = NULL
     WHERE lease_owner = p_owner AND delivered_at IS NULL;
    GET DIAGNOSTICS m = ROW_COUNT;
    IF n + m > 0 THEN
        PERFORM pg_notify('rc_outbox', '');
    END IF;
    RETURN n + m;
END $$;

-- When the sender should look again: the earliest instant (daemon clock) an unleased pending
-- delivery (to an authority or an on-call channel) becomes sendable, and the earliest expiry
-- (wall clock) of a live lease.
CREATE FUNCTION outbox_next_wake(p_now timestamptz, p_wall timestamptz)
RETURNS TABLE(next_due timestamptz, next_lease timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT min(x.due) FILTER (WHERE x.lease_until IS NULL OR x.lease_until <= $2),
           min(x.lease_until) FILTER (WHERE x.lease_until > $2)
      FROM (SELECT greatest(d.due_at, d.next_attempt_at) AS due, d.lease_until
              FROM deliveries d
             WHERE d.delivered_at IS NULL
            UNION ALL
            SELECT greatest(c.due_at, c.next_attempt_at), c.lease_until
              FROM channel_deliveries c JOIN oncall_channels ch ON ch.id = c.channel
             WHERE c.delivered_at IS NULL AND ch.removed_at IS NULL) x
$$;

-- Due (timing engine, scheduled by outbox_enqueue_many at due_at + failing_after): checks
-- each delivery of a notification (see due_notification_check).
CREATE FUNCTION due_outbox_check(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d bigint;
BEGIN
    FOR d IN SELECT s.id FROM deliveries s
              WHERE s.outbox = p_ref AND s.delivered_at IS NULL AND s.failing_alert IS NULL
              ORDER BY s.id
    LOOP
        PERFORM due_notification_check(d, p_now);
    END LOOP;
END $$;

-- Due: a delivery still not delivered failing_after after it fell due raises
-- notification_failing naming the authority and the last error, so staff can phone. Once per
-- delivery; outbox_delivered resolves it.
CREATE FUNCTION due_notification_check(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d deliveries;
    o outbox;
    failing_after interval;
    alert_id bigint;
BEGIN
    SELECT * INTO d FROM deliveries WHERE deliveries.id = p_ref FOR UPDATE;
    IF NOT FOUND OR d.delivered_at IS NOT NULL OR d.failing_alert IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT s.failing_after INTO failing_after FROM notification_settings s;
    IF d.due_at + coalesce(failing_after, interval '15 minutes') > p_now THEN
        -- The setting was raised since this check was scheduled: look again then.
        PERFORM due_schedule('notification_check', d.id, d.centre,
                             d.due_at + coalesce(failing_after, interval '15 minutes'));
        RETURN;
    END IF;
    SELECT * INTO o FROM outbox WHERE outbox.id = d.outbox;
    alert_id := alert_raise(d.centre, 'notification_failing', o.resident, d.absence,
        jsonb_build_object(
            'authority', d.authority,
            'last_error', coalesce(d.last_error,
                                   CASE WHEN d.lease_owner IS NOT NULL
                                        THEN 'the first attempt has not finished yet'
                                        ELSE 'no attempt has been made yet' END),
            'event_id', d.event_id,
            'type', d.type,
            'due_at', d.due_at,
            'attempts', d.attempts),
        p_now);
    UPDATE deliveries SET failing_alert = alert_id WHERE deliveries.id = d.id;
END $$;

-- ---------------------------------------------------------------------------------------------
-- GET /v1/notifications
-- ---------------------------------------------------------------------------------------------

-- Where a delivery stands, for people: delivered; failing (notification_failing raised);
-- retrying (attempted, not yet delivered); pending (due, not yet attempted); scheduled (due
-- later).
CREATE FUNCTION delivery_state(p_d deliveries, p_now timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_d.delivered_at IS NOT NULL THEN 'delivered'
                WHEN p_d.failing_alert IS NOT NULL THEN 'failing'
                WHEN p_d.attempts > 0 THEN 'retrying'
                WHEN p_d.due_at > p_now THEN 'scheduled'
                ELSE 'pending' END
$$;

CREATE FUNCTION delivery_json(p_d deliveries, p_now timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_d.id, 'event_id', p_d.event_id, 'type', p_d.type, 'authority', p_d.authority,
        'centre', p_d.centre, 'absence', p_d.absence,
        'resident', (SELECT o.resident FROM outbox o WHERE o.id = p_d.outbox),
        'due_at', p_d.due_at, 'delivered_at', p_d.delivered_at, 'attempts', p_d.attempts,
        'last_error', p_d.last_error, 'last_attempt_at', p_d.last_attempt_at,
        'next_attempt_at', CASE WHEN p_d.delivered_at IS NULL THEN p_d.next_attempt_at END,
        'state', delivery_state(p_d, p_now), 'receipt', receipt_json(p_d.id))
$$;

-- GET /v1/notifications?centre=&absence=&resident=&state=&limit=&after=
-- Staff+ see their centres' notifications (admins all); the authority role sees only its own
-- authority's deliveries, of its centres. Ascending id; the cursor is the last id.
CREATE FUNCTION op_notification_list(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    q jsonb := coalesce(args->'query', '{}');
    now_ timestamptz := ctx_now(ctx);
    centre_ text := q->>'centre';
    absence_ bigint := arg_id(q->>'absence', 'absence');
    resident_ bigint := arg_id(q->>'resident', 'resident');
    state_ text := coalesce(q->>'state', 'all');
    lim integer := page_limit(args);
    after_ bigint := page_after_id(args);
    own_authority text := CASE WHEN ctx->>'role' = 'authority' THEN ctx->>'authority' END;
    visible text[] := CASE WHEN ctx->>'role' = 'admin' THEN NULL
                           ELSE ARRAY(SELECT jsonb_array_elements_text(
                                          coalesce(ctx->'centres', '[]'))) END;
    rows_ deliveries[];
    residents_ bigint[];
BEGIN
    IF state_ NOT IN ('all', 'pending', 'delivered', 'failing') THEN
        PERFORM fail(400, 'bad_field', 'state must be all, pending, delivered or failing',
                     'state');
    END IF;
    IF ctx->>'role' = 'authority' AND own_authority IS NULL THEN
        PERFORM fail(403, 'forbidden', 'this authority account names no authority');
    END IF;
    IF centre_ IS NOT NULL THEN
        PERFORM require_centre(ctx, centre_);
    END IF;
    SELECT array_agg(x ORDER BY x.id) INTO rows_ FROM (
        SELECT * FROM deliveries d
         WHERE (centre_ IS NULL OR d.centre = centre_)
           AND (visible IS NULL OR d.centre = ANY (visible))
           AND (own_authority IS NULL OR d.authority = own_authority)
           AND (absence_ IS NULL OR d.absence = absence_)
           AND (resident_ IS NULL
                OR d.outbox IN (SELECT o.id FROM outbox o WHERE o.resident = resident_))
           AND CASE state_
                   WHEN 'pending' THEN d.delivered_at IS NULL
                   WHEN 'delivered' THEN d.delivered_at IS NOT NULL
                   WHEN 'failing' THEN d.delivered_at IS NULL AND d.failing_alert IS NOT NULL
                   ELSE true END
           AND d.id > after_
         ORDER BY d.id
         LIMIT lim + 1) x;
    rows_ := coalesce(rows_, '{}');
    residents_ := ARRAY(SELECT DISTINCT o.resident FROM unnest(rows_[1:lim]) r
                          JOIN outbox o ON o.id = r.outbox
                         WHERE o.resident IS NOT NULL);
    IF cardinality(residents_) > 0 THEN
        PERFORM audit_many(ctx, 'notification.list', residents_);
    END IF;
    RETURN QUERY SELECT 200, jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(delivery_json(r, now_) ORDER BY r.id)
                             FROM unnest(rows_[1:lim]) r), '[]'),
        'next', CASE WHEN cardinality(rows_) > lim THEN to_jsonb(rows_[lim].id::text) END);
END $$;
