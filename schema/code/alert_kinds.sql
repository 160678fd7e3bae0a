-- Alert kinds as data (SPEC section 4, v2): GET /v1/alert-kinds, GET and PUT
-- /v1/alert-kinds/{kind}. The priority rule and the timing they feed are in alerts.sql
-- (alert_priority_of, alert_timing).
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

CREATE FUNCTION alert_kind_json(p_k alert_kinds) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('kind', p_k.kind, 'priority', p_k.priority,
                              'repeat_minutes', p_k.repeat_minutes,
                              'escalate_minutes', p_k.escalate_minutes)
$$;

-- The kind named by the path: 400 naming "kind" when there is none (the kinds are a closed
-- list, SPEC section 4, so an unknown one is bad input rather than a missing object).
CREATE FUNCTION require_alert_kind(args jsonb, p_lock boolean) RETURNS alert_kinds
LANGUAGE plpgsql AS $$
DECLARE
    k alert_kinds;
    kind_ text := args->'path'->>'kind';
BEGIN
    IF p_lock THEN
        SELECT * INTO k FROM alert_kinds WHERE kind = kind_ FOR UPDATE;
    ELSE
        SELECT * INTO k FROM alert_kinds WHERE kind = kind_;
    END IF;
    IF k.kind IS NULL THEN
        PERFORM fail(400, 'bad_field',
                     format('kind must be one of %s',
                            (SELECT string_agg(x.kind, ', ' ORDER BY x.kind) FROM alert_kinds x)),
                     'kind');
    END IF;
    RETURN k;
END $$;

-- GET /v1/alert-kinds: every kind, by name (one page: the list is short and closed).
CREATE FUNCTION op_alert_kind_list(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE sql STABLE AS $$
    SELECT 200, jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(alert_kind_json(k) ORDER BY k.kind)
                             FROM alert_kinds k), '[]'),
        'next', NULL)
$$;

-- GET /v1/alert-kinds/{kind}
CREATE FUNCTION op_alert_kind_get(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT 200, alert_kind_json(require_alert_kind(args, false));
END $$;

-- PUT /v1/alert-kinds/{kind} {"priority","repeat_minutes","escalate_minutes"} (admin). A field
-- left out keeps its value; null minutes turn the repeat or the escalation off. The change
-- applies to alerts raised afterwards and to the next repeat and the escalation of the open
-- ones (docs/decisions.md): their due rows are scheduled again from the new times, and a row
-- scheduled from the old times finds nothing due and does nothing (alerts.sql).
CREATE FUNCTION op_alert_kind_put(ctx jsonb, args jsonb)
RETURNS TABLE(status integer, body jsonb) LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := coalesce(args->'body', '{}');
    k alert_kinds := require_alert_kind(args, true);
    before jsonb := alert_kind_json(k);
    open_ids bigint[];
BEGIN
    IF b ? 'priority' THEN
        IF coalesce(b->>'priority', '') NOT IN ('urgent', 'normal', 'info') THEN
            PERFORM fail(400, 'bad_field', 'priority must be urgent, normal or info', 'priority');
        END IF;
        k.priority := b->>'priority';
    END IF;
    IF b ? 'repeat_minutes' THEN
        k.repeat_minutes := arg_int(b->>'repeat_minutes', 'repeat_minutes', 1, 10080);
    END IF;
    IF b ? 'escalate_minutes' THEN
        k.escalate_minutes := arg_int(b->>'escalate_minutes', 'escalate_minutes', 1, 10080);
    END IF;
    UPDATE alert_kinds
       SET priority = k.priority, repeat_minutes = k.repeat_minutes,
           escalate_minutes = k.escalate_minutes, changed_at = ctx_now(ctx),
           changed_by = ctx->>'cn'
     WHERE kind = k.kind;

    SELECT array_agg(a.id ORDER BY a.id) INTO open_ids FROM alerts a
     WHERE a.kind = k.kind AND a.acked_at IS NULL AND a.resolved_at IS NULL;
    PERFORM due_schedule_many('alert_repeat', array_agg(x.id ORDER BY x.id),
                              array_agg(x.centre ORDER BY x.id),
                              array_agg(x.last_announced_at + t.repeat_every ORDER BY x.id))
       FROM alerts x CROSS JOIN LATERAL alert_timing(x.id) t
      WHERE x.id = ANY (open_ids) AND t.repeat_every IS NOT NULL;
    PERFORM due_schedule_many('alert_escalate', array_agg(x.id ORDER BY x.id),
                              array_agg(x.centre ORDER BY x.id),
                              array_agg(x.raised_at + t.escalate_after ORDER BY x.id))
       FROM alerts x CROSS JOIN LATERAL alert_timing(x.id) t
      WHERE x.id = ANY (open_ids) AND x.escalated_at IS NULL AND t.escalate_after IS NOT NULL;

    PERFORM audit(ctx, 'alert_kind.put', NULL,
                  jsonb_build_object('kind', k.kind, 'before', before,
                                     'after', alert_kind_json(k)));
    RETURN QUERY SELECT 200, alert_kind_json(k);
END $$;
