-- Monitoring: the database-derived series of GET /metrics (docs/operations.md, "Monitoring").
-- One statement per scrape, run by the daemon's pool like any request; the C side
-- (daemon/metrics_text.c) turns the JSON into Prometheus text. Every count is read through an
-- index (due_events_due, deliveries_pending, absences_one_open, alerts_open) so that a scrape
-- stays cheap however much history the tables hold.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- The figures at instant p_now (the daemon's clock):
--   due:      {"pending": due rows whose due_at has passed and that are not yet decided,
--              "failing": of those, rows whose handler already failed at least once,
--              "lag_seconds": age of the oldest of them (0 when none)}
--   outbox:   [{"centre","authority","undelivered","oldest_seconds"}] per configured authority of
--              every centre (and any other pair with undelivered rows): notifications fallen due
--              and not delivered, and the age of the oldest since it fell due (0 when none)
--   absences: [{"centre","open"}] per centre
--   alerts:   [{"centre","kind","open"}] per centre and kind: neither acknowledged nor resolved
-- Zeros are listed, not left out, so that a series drops to 0 instead of vanishing.
CREATE FUNCTION metrics_snapshot(p_now timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'due', (SELECT jsonb_build_object(
                    'pending', count(*),
                    'failing', count(*) FILTER (WHERE e.attempts > 0),
                    'lag_seconds', coalesce(extract(epoch FROM p_now - min(e.due_at)), 0))
                FROM due_events e
                WHERE e.due_at <= p_now),
        'outbox', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'centre', pairs.centre, 'authority', pairs.authority,
                              'undelivered', coalesce(backlog.n, 0),
                              'oldest_seconds', coalesce(backlog.oldest, 0))
                          ORDER BY pairs.centre, pairs.authority), '[]'::jsonb)
                   FROM (SELECT ca.centre, ca.kind AS authority FROM centre_authorities ca
                         UNION
                         SELECT d.centre, d.authority FROM deliveries d
                         WHERE d.delivered_at IS NULL) AS pairs
                   LEFT JOIN (SELECT d.centre, d.authority, count(*) AS n,
                                     extract(epoch FROM p_now - min(d.due_at)) AS oldest
                              FROM deliveries d
                              WHERE d.delivered_at IS NULL AND d.due_at <= p_now
                              GROUP BY d.centre, d.authority) AS backlog
                          ON backlog.centre = pairs.centre
                         AND backlog.authority = pairs.authority),
        'absences', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                'centre', c.id,
                                'open', (SELECT count(*) FROM absences a
                                         WHERE a.centre = c.id AND a.returned_at IS NULL))
                            ORDER BY c.id), '[]'::jsonb)
                     FROM centres c),
        'alerts', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'centre', c.id, 'kind', k.kind,
                              'open', coalesce(o.n, 0))
                          ORDER BY c.id, k.position, k.kind), '[]'::jsonb)
                   FROM centres c
                   CROSS JOIN (SELECT kinds.kind, min(kinds.position) AS position
                               FROM (SELECT u.kind, u.position
                                     FROM unnest(metrics_alert_kinds())
                                          WITH ORDINALITY AS u(kind, position)
                                     UNION ALL
                                     SELECT DISTINCT al.kind, 1000
                                     FROM alerts al
                                     WHERE al.acked_at IS NULL AND al.resolved_at IS NULL)
                                    AS kinds
                               GROUP BY kinds.kind) AS k
                   LEFT JOIN (SELECT al.centre, al.kind, count(*) AS n FROM alerts al
                              WHERE al.acked_at IS NULL AND al.resolved_at IS NULL
                              GROUP BY al.centre, al.kind) AS o
                          ON o.centre = c.id AND o.kind = k.kind))
$$;

-- The alert kinds listed with a zero when none is open: those of alerts.kind's CHECK, in its
-- order (rollcall/enums.h's enum_alert_kinds). A kind missing here still shows once one of its
-- alerts is open (metrics_snapshot adds the kinds of open alerts).
CREATE FUNCTION metrics_alert_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['resident_absent', 'round_overdue', 'absence_reported', 'notification_failing',
                 'resident_returned', 'turning_18']
$$;

-- GET /metrics: api() has checked the role (admin or metrics); the C handler writes the text
-- from this answer and its own counters.
CREATE FUNCTION op_metrics(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE sql STABLE AS $$ SELECT 200, metrics_snapshot(ctx_now(ctx)) $$;
