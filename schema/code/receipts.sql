-- Receipts confirmed by a person (SPEC section 5, v2): each authority's own absence.reported
-- body (its profile fields and receipt_url, fixed at the first attempt), POST
-- /v1/notifications/{event_id}/receipt, and notification_unconfirmed receipt_minutes after
-- delivery on the one clock.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- The receipt URL of a delivery under the daemon's public_url (no trailing '/').
CREATE FUNCTION receipt_url(p_public_url text, p_event_id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_public_url || '/v1/notifications/' || p_event_id || '/receipt'
$$;

-- The body one authority receives for an absence.reported delivery (without event_id, which
-- the daemon adds): the notification's payload with the profile fields that authority may
-- receive as the profile stands now, and receipt_url. outbox_claim stores it on the delivery
-- at the first attempt, so that every retry sends the same fields (docs/decisions.md).
CREATE FUNCTION receipt_delivery_body(p_d deliveries, p_public_url text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    o outbox;
    profile jsonb;
BEGIN
    SELECT * INTO o FROM outbox WHERE outbox.id = p_d.outbox;
    IF o.resident IS NOT NULL THEN
        profile := profile_for_authority(o.resident, p_d.centre, p_d.authority);
    END IF;
    RETURN (o.payload - 'profile' - 'receipt_url')
           || CASE WHEN profile IS NOT NULL THEN jsonb_build_object('profile', profile)
                   ELSE '{}' END
           || CASE WHEN p_public_url IS NOT NULL
                   THEN jsonb_build_object('receipt_url', receipt_url(p_public_url, p_d.event_id))
                   ELSE '{}' END;
END $$;

-- A delivery's receipt as notifications show it, or JSON null.
CREATE FUNCTION receipt_json(p_delivery bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT jsonb_build_object('at', r.at, 'received_by', r.received_by,
                                               'reference', r.reference,
                                               'recorded_by', r.recorded_by)
                       FROM notification_receipts r WHERE r.delivery = p_delivery),
                    'null'::jsonb)
$$;

-- Called when an absence.reported delivery is settled (due_notification_settle): schedules
-- its receipt check receipt_minutes after delivery, unless the centre checks none or a
-- receipt is already in.
CREATE FUNCTION receipt_schedule(p_d deliveries) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    minutes integer;
BEGIN
    IF p_d.type <> 'absence.reported' OR p_d.delivered_at IS NULL
       OR p_d.unconfirmed_alert IS NOT NULL
       OR EXISTS (SELECT 1 FROM notification_receipts r WHERE r.delivery = p_d.id) THEN
        RETURN;
    END IF;
    SELECT c.receipt_minutes INTO minutes FROM centres c WHERE c.id = p_d.centre;
    IF minutes IS NOT NULL THEN
        PERFORM due_schedule('receipt_check', p_d.id, p_d.centre,
                             p_d.delivered_at + make_interval(mins => minutes));
    END IF;
END $$;

-- Due: an absence.reported delivered receipt_minutes ago (as the centre says now) and not
-- confirmed raises notification_unconfirmed, once per delivery (the delivery's row lock, its
-- unconfirmed_alert and a unique index on the event id). Nothing when a receipt came, the
-- centre turned the check off, or the resident has returned (nobody needs to phone then).
CREATE FUNCTION due_receipt_check(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d deliveries;
    minutes integer;
    resident_ bigint;
    alert_id bigint;
BEGIN
    SELECT * INTO d FROM deliveries WHERE deliveries.id = p_ref FOR NO KEY UPDATE;
    IF NOT FOUND OR d.delivered_at IS NULL OR d.unconfirmed_alert IS NOT NULL
       OR EXISTS (SELECT 1 FROM notification_receipts r WHERE r.delivery = d.id) THEN
        RETURN;
    END IF;
    SELECT c.receipt_minutes INTO minutes FROM centres c WHERE c.id = d.centre;
    IF minutes IS NULL THEN
        RETURN;
    END IF;
    IF d.delivered_at + make_interval(mins => minutes) > p_now THEN
        -- The centre allowed more time since this check was scheduled: look again then.
        PERFORM due_schedule('receipt_check', d.id, d.centre,
                             d.delivered_at + make_interval(mins => minutes));
        RETURN;
    END IF;
    IF d.absence IS NOT NULL
       AND EXISTS (SELECT 1 FROM absences a WHERE a.id = d.absence AND a.returned_at IS NOT NULL)
    THEN
        RETURN;
    END IF;
    SELECT o.resident INTO resident_ FROM outbox o WHERE o.id = d.outbox;
    alert_id := alert_raise(d.centre, 'notification_unconfirmed', resident_, d.absence,
        jsonb_build_object('authority', d.authority, 'event_id', d.event_id,
                           'delivered_at', d.delivered_at),
        p_now);
    IF alert_id IS NOT NULL THEN
        UPDATE deliveries SET unconfirmed_alert = alert_id WHERE deliveries.id = d.id;
    END IF;
END $$;

-- POST /v1/notifications/{event_id}/receipt {"received_by","reference"}: a person at the
-- authority has read the notification. By the authority account of that authority (of its own
-- centres: any other event id is answered exactly as one that does not exist), or by staff+ of
-- the centre recording a confirmation given by phone. recorded_by is the calling account. The
-- first receipt is kept: a later one answers it (200) and changes nothing. Resolves the
-- delivery's notification_unconfirmed alert.
CREATE FUNCTION op_notification_receipt(ctx jsonb, args jsonb)
RETURNS TABLE(status int, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    event_ text := args->'path'->>'event_id';
    b jsonb := coalesce(args->'body', '{}');
    received_by_ text;
    reference_ text;
    d deliveries;
    resident_ bigint;
    inserted boolean;
    now_ timestamptz := ctx_now(ctx);
BEGIN
    SELECT * INTO d FROM deliveries x WHERE x.event_id = event_ FOR NO KEY UPDATE;
    IF ctx->>'role' = 'authority' THEN
        IF d.id IS NULL OR d.authority IS DISTINCT FROM ctx->>'authority'
           OR NOT coalesce(ctx->'centres' ? d.centre, false) THEN
            PERFORM fail(404, 'not_found', format('there is no notification %s', event_),
                         'event_id');
        END IF;
    ELSE
        PERFORM require_object(ctx, 'notification', event_, d.centre);
    END IF;
    PERFORM arg_required(b, 'received_by');
    received_by_ := arg_text(b, 'received_by', 200);
    IF b ? 'reference' AND jsonb_typeof(b->'reference') <> 'null' THEN
        reference_ := arg_text(b, 'reference', 200);
    END IF;
    SELECT o.resident INTO resident_ FROM outbox o WHERE o.id = d.outbox;
    INSERT INTO notification_receipts (delivery, at, received_by, reference, recorded_by)
    VALUES (d.id, now_, received_by_, reference_, ctx->>'cn')
    ON CONFLICT (delivery) DO NOTHING;
    inserted := FOUND;
    IF inserted THEN
        PERFORM due_cancel('receipt_check', d.id);
        IF d.unconfirmed_alert IS NOT NULL THEN
            PERFORM alert_resolve(d.unconfirmed_alert, now_);
        END IF;
    END IF;
    PERFORM audit(ctx, 'notification_receipt', resident_,
                  jsonb_build_object('event_id', d.event_id, 'authority', d.authority,
                                     'first', inserted));
    RETURN QUERY SELECT CASE WHEN inserted THEN 201 ELSE 200 END,
                        jsonb_build_object('event_id', d.event_id, 'type', d.type,
                                           'authority', d.authority, 'centre', d.centre)
                        || receipt_json(d.id);
END $$;
