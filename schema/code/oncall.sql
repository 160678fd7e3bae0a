-- On-call channels (SPEC sections 4 and 10, v2): a centre's e-mail and webhook channels, the
-- delivery of every raise, repeat and escalation at or above a channel's min_priority to it
-- (written in the transaction that emits the alert event), what the daemon's sender claims and
-- writes back for them (daemon/sender.c), and the visibility of a failing channel.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- ---------------------------------------------------------------------------------------------
-- The channels of a centre
-- ---------------------------------------------------------------------------------------------

-- As the API shows them, in the admin's order; secrets are never shown (as the authorities').
CREATE FUNCTION oncall_channels_json(p_centre text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(
               CASE ch.kind
                   WHEN 'email' THEN jsonb_build_object('kind', 'email', 'to', ch.address,
                                                        'min_priority', ch.min_priority)
                   ELSE jsonb_build_object('kind', 'webhook', 'url', ch.address,
                                           'min_priority', ch.min_priority)
               END ORDER BY ch.position), '[]'::jsonb)
      FROM oncall_channels ch
     WHERE ch.centre = p_centre AND ch.removed_at IS NULL
$$;

-- Replaces a centre's channels with p_list ([{"kind":"email","to","min_priority"} |
-- {"kind":"webhook","url","secret","min_priority"}]); min_priority defaults to normal. A
-- channel already listed (same kind and address) is kept, with its deliveries; when
-- p_keep_secrets, a webhook without "secret" keeps the stored one of that URL (secrets are
-- never shown). A channel left out is removed: what it had not delivered yet is not sent.
CREATE FUNCTION oncall_channels_set(p_centre text, p_list jsonb, p_keep_secrets boolean,
                                    p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    element jsonb;
    position_ bigint;
    prefix text;
    kind_ text;
    address_ text;
    secret_ text;
    min_ text;
    kept bigint[] := '{}';
    existing bigint;
BEGIN
    IF jsonb_typeof(p_list) <> 'array' THEN
        PERFORM fail(400, 'bad_field', 'oncall_channels must be an array', 'oncall_channels');
    END IF;
    FOR element, position_ IN
        SELECT e, i - 1 FROM jsonb_array_elements(p_list) WITH ORDINALITY AS t(e, i) ORDER BY i
    LOOP
        prefix := format('oncall_channels[%s].', position_);
        IF jsonb_typeof(element) <> 'object' THEN
            PERFORM fail(400, 'bad_field', 'a channel must be an object',
                         format('oncall_channels[%s]', position_));
        END IF;
        kind_ := arg_required(element, 'kind', prefix);
        IF kind_ NOT IN ('email', 'webhook') THEN
            PERFORM fail(400, 'bad_field', 'kind must be email or webhook', prefix || 'kind');
        END IF;
        min_ := coalesce(element->>'min_priority', 'normal');
        IF min_ NOT IN ('urgent', 'normal', 'info') THEN
            PERFORM fail(400, 'bad_field', 'min_priority must be urgent, normal or info',
                         prefix || 'min_priority');
        END IF;
        secret_ := NULL;
        IF kind_ = 'email' THEN
            IF element ? 'url' OR element ? 'secret' THEN
                PERFORM fail(400, 'unknown_field', 'an email channel takes "to", not "url" or '
                             '"secret"',
                             prefix || CASE WHEN element ? 'url' THEN 'url' ELSE 'secret' END);
            END IF;
            address_ := arg_required(element, 'to', prefix);
            -- One plain address: no display name, no list, nothing that could end a header.
            IF address_ !~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$'
               OR length(address_) > 254 THEN
                PERFORM fail(400, 'bad_field', 'to must be one e-mail address (name@domain)',
                             prefix || 'to');
            END IF;
        ELSE
            IF element ? 'to' THEN
                PERFORM fail(400, 'unknown_field', 'a webhook channel takes "url", not "to"',
                             prefix || 'to');
            END IF;
            address_ := arg_required(element, 'url', prefix);
            IF address_ !~ '^https://[^/\s?#]+([/?#]\S*)?$' OR length(address_) > 2000 THEN
                PERFORM fail(400, 'bad_field', 'url must be an https:// URL', prefix || 'url');
            END IF;
            secret_ := element->>'secret';
            IF secret_ IS NULL THEN
                SELECT ch.secret INTO secret_ FROM oncall_channels ch
                 WHERE ch.centre = p_centre AND ch.removed_at IS NULL AND ch.kind = 'webhook'
                   AND ch.address = address_ AND p_keep_secrets
                 ORDER BY ch.id LIMIT 1;
                IF secret_ IS NULL THEN
                    PERFORM fail(400, 'missing_field', prefix || 'secret is required',
                                 prefix || 'secret');
                END IF;
            ELSIF NOT webhook_secret_valid(secret_) THEN
                PERFORM fail(400, 'bad_field',
                             'secret must be "whsec_" followed by the base64 of a key of 1 to '
                             '255 bytes',
                             prefix || 'secret');
            END IF;
        END IF;
        SELECT ch.id INTO existing FROM oncall_channels ch
         WHERE ch.centre = p_centre AND ch.removed_at IS NULL AND ch.kind = kind_
           AND ch.address = address_ AND ch.id <> ALL (kept)
         ORDER BY ch.id LIMIT 1;
        IF existing IS NOT NULL THEN
            UPDATE oncall_channels
               SET position = position_, secret = secret_, min_priority = min_
             WHERE id = existing;
        ELSE
            INSERT INTO oncall_channels (centre, position, kind, address, secret, min_priority)
            VALUES (p_centre, position_, kind_, address_, secret_, min_)
            RETURNING id INTO existing;
        END IF;
        kept := kept || existing;
    END LOOP;
    UPDATE oncall_channels SET removed_at = p_now
     WHERE centre = p_centre AND removed_at IS NULL AND id <> ALL (kept);
END $$;

-- ---------------------------------------------------------------------------------------------
-- What a channel receives
-- ---------------------------------------------------------------------------------------------

-- An instant as on-call staff read it: local time in the centre's zone.
CREATE FUNCTION oncall_local(p_at timestamptz, p_timezone text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_at IS NULL THEN NULL
                ELSE to_char(p_at AT TIME ZONE p_timezone, 'YYYY-MM-DD HH24:MI') END
$$;

-- The e-mail of an alert event: {"subject","text"}, plain text with what on-call staff must
-- know away from a screen (kind, resident by case number, since, reason and concern, when the
-- authorities are or were notified) and the acknowledge command. Names are left out: the case
-- number finds the resident in rollcall, and an e-mail may be read on a shared phone.
CREATE FUNCTION oncall_mail(p_alert jsonb, p_type text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'subject', format('[%s] %s at %s%s', upper(p_alert->>'priority'),
                          replace(p_alert->>'kind', '_', ' '), c.name,
                          CASE WHEN r.case_number IS NOT NULL
                               THEN ', case ' || r.case_number ELSE '' END)
                   || CASE p_type WHEN 'alert.repeated' THEN ' (again, not acknowledged)'
                                  WHEN 'alert.escalated' THEN ' (ESCALATED to managers)'
                                  ELSE '' END,
        'text', concat_ws(E'\n',
            format('%s alert %s at %s (%s): %s', upper(p_alert->>'priority'), p_alert->>'id',
                   c.name, c.id, replace(p_alert->>'kind', '_', ' ')),
            CASE p_type
                WHEN 'alert.raised' THEN 'Raised at ' || oncall_local(
                    (p_alert->>'raised_at')::timestamptz, c.timezone)
                WHEN 'alert.repeated' THEN format('Announced again at %s: not acknowledged since %s',
                    oncall_local((p_alert->>'last_announced_at')::timestamptz, c.timezone),
                    oncall_local((p_alert->>'raised_at')::timestamptz, c.timezone))
                ELSE format('ESCALATED to managers at %s: not acknowledged since %s',
                    oncall_local((p_alert->>'last_announced_at')::timestamptz, c.timezone),
                    oncall_local((p_alert->>'raised_at')::timestamptz, c.timezone))
            END,
            'Times are local (' || c.timezone || ').',
            '',
            CASE WHEN r.case_number IS NOT NULL THEN 'Resident: case ' || r.case_number END,
            CASE WHEN ab.id IS NOT NULL THEN 'Last accounted for: '
                 || oncall_local(ab.since, c.timezone) END,
            CASE WHEN ab.id IS NOT NULL THEN 'Reason: ' || replace(ab.reason, '_', ' ')
                 || CASE WHEN ab.known_departure THEN ' (staff know the resident has left)'
                         ELSE '' END END,
            CASE WHEN ab.concern IS NOT NULL AND ab.concern <> '' THEN 'Concern: ' || ab.concern END,
            CASE WHEN ab.id IS NOT NULL AND ab.notified_at IS NOT NULL
                     THEN 'Authorities notified at ' || oncall_local(ab.notified_at, c.timezone)
                 WHEN ab.id IS NOT NULL
                     THEN 'Authorities to be notified at ' || oncall_local(ab.notify_at, c.timezone)
            END,
            CASE WHEN ab.returned_at IS NOT NULL THEN 'Returned at '
                 || oncall_local(ab.returned_at, c.timezone) END,
            CASE WHEN p_alert->'details' ? 'authority'
                     AND p_alert->'details'->>'authority' IS NOT NULL
                 THEN 'Authority: ' || (p_alert->'details'->>'authority') END,
            CASE WHEN p_alert->'details' ? 'last_error'
                 THEN 'Last error: ' || (p_alert->'details'->>'last_error') END,
            CASE WHEN p_alert->>'kind' = 'round_overdue'
                 THEN format('Round %s/%s: %s residents not accounted for',
                             p_alert->'details'->>'date', p_alert->'details'->>'slot',
                             jsonb_array_length(coalesce(p_alert->'details'->'missing', '[]'))) END,
            '',
            'Acknowledge: rollcall ack ' || (p_alert->>'id'),
            ''))
      FROM centres c
      LEFT JOIN residents r ON r.id = (p_alert->>'resident')::bigint
      LEFT JOIN absences ab ON ab.id = (p_alert->>'absence')::bigint
     WHERE c.id = p_alert->>'centre'
$$;

-- Called by alert_events_emit for the events it wrote: one delivery per raise, repeat or
-- escalation and channel of the centre at or above whose min_priority the alert is (its
-- priority at this event), each with its own event id. A channel's own failing alert is not
-- sent to that channel. Schedules each delivery's failing check and wakes the senders.
CREATE FUNCTION channel_enqueue(p_seqs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    failing_after interval;
    ids bigint[];
    centres_ text[];
BEGIN
    SELECT s.failing_after INTO failing_after FROM notification_settings s;
    WITH ins AS (
        INSERT INTO channel_deliveries (event_id, channel, centre, alert, alert_event, type,
                                        payload, due_at, next_attempt_at)
        SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), ch.id, e.centre, e.alert,
               e.seq, t.type,
               CASE ch.kind WHEN 'webhook' THEN jsonb_build_object('alert', e.body)
                            ELSE oncall_mail(e.body, t.type) END,
               p_now, p_now
          FROM alert_events e
         CROSS JOIN LATERAL (SELECT CASE e.kind WHEN 'raised' THEN 'alert.raised'
                                                WHEN 'reannounced' THEN 'alert.repeated'
                                                WHEN 'escalated' THEN 'alert.escalated'
                                    END AS type) t
          JOIN oncall_channels ch ON ch.centre = e.centre AND ch.removed_at IS NULL
         WHERE e.seq = ANY (p_seqs) AND t.type IS NOT NULL
           AND alert_priority_rank(e.body->>'priority') >= alert_priority_rank(ch.min_priority)
           AND (e.body->'details'->>'channel') IS DISTINCT FROM ch.id::text
         ORDER BY e.seq, ch.position
        ON CONFLICT DO NOTHING
        RETURNING channel_deliveries.id, channel_deliveries.centre
    )
    SELECT array_agg(ins.id ORDER BY ins.id), array_agg(ins.centre ORDER BY ins.id)
      INTO ids, centres_ FROM ins;
    IF ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM due_schedule_many('channel_check', ids, centres_,
                              array_fill(p_now + coalesce(failing_after, interval '15 minutes'),
                                         ARRAY[cardinality(ids)]));
    PERFORM pg_notify('rc_outbox', '');
END $$;

-- ---------------------------------------------------------------------------------------------
-- The sender's side (daemon/sender.c), as outbox.sql's for the authorities
-- ---------------------------------------------------------------------------------------------

-- Claims up to p_max due channel deliveries not leased (leases on the wall clock p_wall), at
-- most p_group_cap at once per channel over every instance, oldest first. Channels have their
-- own table, claim and caps: a failing channel never takes an authority's slot. Returns what
-- one attempt needs, the channel's address and secret read now.
CREATE FUNCTION channel_claim(p_owner text, p_now timestamptz, p_wall timestamptz,
                              p_lease_until timestamptz, p_max integer, p_group_cap integer)
RETURNS TABLE(id bigint, event_id text, type text, kind text, centre text, address text,
              secret text, payload jsonb, attempts integer)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH busy AS (
        SELECT b.channel, count(*)::integer AS n
          FROM channel_deliveries b
         WHERE b.delivered_at IS NULL AND b.lease_until > p_wall
         GROUP BY b.channel
    ), ready AS (
        SELECT r.id
          FROM oncall_channels ch
          LEFT JOIN busy ON busy.channel = ch.id
         CROSS JOIN LATERAL (
            SELECT r.id FROM channel_deliveries r
             WHERE r.channel = ch.id AND r.delivered_at IS NULL
               AND r.next_attempt_at <= p_now AND r.due_at <= p_now
               AND (r.lease_until IS NULL OR r.lease_until <= p_wall)
             ORDER BY r.next_attempt_at, r.id
             LIMIT greatest(p_group_cap - coalesce(busy.n, 0), 0)) r
         WHERE ch.removed_at IS NULL
    ), picked AS (
        SELECT p.id FROM channel_deliveries p
         WHERE p.id = ANY (ARRAY(SELECT ready.id FROM ready))
         ORDER BY p.next_attempt_at, p.id
         LIMIT p_max
           FOR UPDATE OF p SKIP LOCKED
    )
    UPDATE channel_deliveries d
       SET lease_owner = p_owner, lease_until = p_lease_until
      FROM picked, oncall_channels ch
     WHERE d.id = picked.id AND ch.id = d.channel
       AND d.delivered_at IS NULL
       AND (d.lease_until IS NULL OR d.lease_until <= p_wall)
    RETURNING d.id, d.event_id, d.type, ch.kind, d.centre, ch.address, ch.secret, d.payload,
              d.attempts;
END $$;

-- Delivered (a 2xx, or the relay accepted the message). Answers 'delivered', 'already' or
-- 'busy' (the row is locked: try again shortly). The channel's failing alert is resolved by
-- due_channel_settle, in the timing engine's batches (no alert lock taken here).
CREATE FUNCTION channel_delivered(p_id bigint, p_owner text, p_now timestamptz,
                                  p_result text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d channel_deliveries;
    pulled integer;
BEGIN
    SELECT * INTO d FROM channel_deliveries WHERE channel_deliveries.id = p_id
       FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM channel_deliveries WHERE channel_deliveries.id = p_id)
                    THEN 'busy' ELSE 'already' END;
    END IF;
    IF d.delivered_at IS NOT NULL THEN
        RETURN 'already';
    END IF;
    UPDATE channel_deliveries
       SET delivered_at = p_now, attempts = attempts + 1, last_attempt_at = p_now,
           lease_owner = NULL, lease_until = NULL
     WHERE channel_deliveries.id = p_id;
    -- The channel is back: what waits in backoff for it goes now.
    UPDATE channel_deliveries b
       SET next_attempt_at = p_now
     WHERE b.id IN (
        SELECT w.id FROM channel_deliveries w
         WHERE w.channel = d.channel AND w.delivered_at IS NULL AND w.attempts > 0
           AND w.next_attempt_at > p_now AND w.lease_owner IS NULL
           FOR NO KEY UPDATE SKIP LOCKED);
    GET DIAGNOSTICS pulled = ROW_COUNT;
    IF pulled > 0 THEN
        PERFORM pg_notify('rc_outbox', '');
    END IF;
    IF EXISTS (SELECT 1 FROM alerts a
                WHERE a.kind = 'notification_failing' AND a.centre = d.centre
                  AND a.resolved_at IS NULL AND a.details->>'channel' = d.channel::text) THEN
        PERFORM due_schedule('channel_settle', d.id, d.centre, p_now);
    END IF;
    RETURN 'delivered';
END $$;

-- A failed attempt: as outbox_failed. Answers 'recorded', 'busy' or 'lost'.
CREATE FUNCTION channel_failed(p_id bigint, p_owner text, p_error text, p_now timestamptz,
                               p_next_attempt_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d channel_deliveries;
BEGIN
    SELECT * INTO d FROM channel_deliveries WHERE channel_deliveries.id = p_id
       FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM channel_deliveries WHERE channel_deliveries.id = p_id)
                    THEN 'busy' ELSE 'lost' END;
    END IF;
    IF d.delivered_at IS NOT NULL OR d.lease_owner IS DISTINCT FROM p_owner THEN
        RETURN 'lost';
    END IF;
    UPDATE channel_deliveries
       SET attempts = attempts + 1, last_attempt_at = p_now,
           last_error = left(coalesce(p_error, 'unknown error'), 500),
           next_attempt_at = greatest(p_next_attempt_at, p_now),
           lease_owner = NULL, lease_until = NULL
     WHERE channel_deliveries.id = p_id;
    RETURN 'recorded';
END $$;

-- Due (channel_enqueue, failing_after after the delivery fell due): a delivery still not
-- delivered raises notification_failing naming the channel and the last error, once per
-- channel while it fails (the open alert stands for every delivery to it). A channel taken off
-- the list raises nothing.
CREATE FUNCTION due_channel_check(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d channel_deliveries;
    ch oncall_channels;
    alert_id bigint;
BEGIN
    SELECT * INTO d FROM channel_deliveries WHERE channel_deliveries.id = p_ref FOR UPDATE;
    IF NOT FOUND OR d.delivered_at IS NOT NULL OR d.failing_alert IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT * INTO ch FROM oncall_channels WHERE oncall_channels.id = d.channel;
    IF ch.removed_at IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT a.id INTO alert_id FROM alerts a
     WHERE a.kind = 'notification_failing' AND a.centre = d.centre AND a.resolved_at IS NULL
       AND a.details->>'channel' = d.channel::text
     ORDER BY a.id LIMIT 1;
    IF alert_id IS NULL THEN
        alert_id := alert_raise(d.centre, 'notification_failing', NULL, NULL,
            jsonb_build_object(
                'channel', d.channel,
                'channel_kind', ch.kind,
                'address', ch.address,
                'last_error', coalesce(d.last_error,
                                       CASE WHEN d.lease_owner IS NOT NULL
                                            THEN 'the first attempt has not finished yet'
                                            ELSE 'no attempt has been made yet' END),
                'event_id', d.event_id,
                'type', d.type,
                'due_at', d.due_at,
                'attempts', d.attempts),
            p_now);
    END IF;
    UPDATE channel_deliveries SET failing_alert = alert_id WHERE channel_deliveries.id = d.id;
END $$;

-- Due (channel_delivered): the channel delivers again, so its failing alert is resolved once
-- nothing older than the delivered one still waits for it.
CREATE FUNCTION due_channel_settle(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d channel_deliveries;
    al bigint;
BEGIN
    SELECT * INTO d FROM channel_deliveries WHERE channel_deliveries.id = p_ref;
    IF NOT FOUND OR d.delivered_at IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM channel_deliveries w
                WHERE w.channel = d.channel AND w.delivered_at IS NULL AND w.id < d.id) THEN
        RETURN;
    END IF;
    FOR al IN SELECT a.id FROM alerts a
               WHERE a.kind = 'notification_failing' AND a.centre = d.centre
                 AND a.resolved_at IS NULL AND a.details->>'channel' = d.channel::text
               ORDER BY a.id
    LOOP
        PERFORM alert_resolve(al, p_now);
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------------------------
-- GET /v1/centres/{id}/channel-deliveries: what went to the centre's channels
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION channel_delivery_json(p_d channel_deliveries) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_d.id, 'event_id', p_d.event_id, 'type', p_d.type, 'alert', p_d.alert,
        'channel', jsonb_build_object('kind', ch.kind,
                                      CASE ch.kind WHEN 'email' THEN 'to' ELSE 'url' END,
                                      ch.address, 'removed', ch.removed_at IS NOT NULL),
        'due_at', p_d.due_at, 'delivered_at', p_d.delivered_at, 'attempts', p_d.attempts,
        'last_error', p_d.last_error, 'last_attempt_at', p_d.last_attempt_at,
        'next_attempt_at', CASE WHEN p_d.delivered_at IS NULL THEN p_d.next_attempt_at END,
        'failing', p_d.failing_alert IS NOT NULL AND p_d.delivered_at IS NULL)
      FROM oncall_channels ch WHERE ch.id = p_d.channel
$$;

-- Ascending id, paged by id; ?alert= narrows to one alert.
CREATE FUNCTION op_channel_delivery_list(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    centre_ text := args->'path'->>'id';
    alert_ bigint := arg_id(args->'query'->>'alert', 'alert');
    lim integer := page_limit(args);
    after_ bigint := page_after_id(args);
    rows_ channel_deliveries[];
BEGIN
    PERFORM require_centre(ctx, centre_);
    SELECT array_agg(x ORDER BY x.id) INTO rows_ FROM (
        SELECT * FROM channel_deliveries d
         WHERE d.centre = centre_ AND (alert_ IS NULL OR d.alert = alert_) AND d.id > after_
         ORDER BY d.id
         LIMIT lim + 1) x;
    rows_ := coalesce(rows_, '{}');
    RETURN QUERY SELECT 200, jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(channel_delivery_json(r) ORDER BY r.id)
                             FROM unnest(rows_[1:lim]) r), '[]'),
        'next', CASE WHEN cardinality(rows_) > lim THEN to_jsonb(rows_[lim].id::text) END);
END $$;
