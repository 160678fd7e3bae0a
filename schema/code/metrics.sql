-- Monitoring: the database-derived series of GET /metrics (docs/operations.md, "Monitoring").
-- One statement per scrape, run by the daemon's pool like any request; the C side
-- (daemon/metrics_text.c) turns the JSON into Prometheus text. Every count is read through an
-- index (due_events_due, deliveries_pending, channel_deliveries_pending, absences_one_open,
-- alerts_open) so that a scrape stays cheap however much history the tables hold.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- The figures at instant p_now (the daemon's clock):
--   due:      {"pending": due rows whose due_at has passed and that are not yet decided,
--              "failing": of those, rows whose handler already failed at least once,
--              "lag_seconds": age of the oldest of them (0 when none)}
--   outbox:   [{"centre","authority","undelivered","oldest_seconds"}] per configured authority of
--              every centre (and any other pair with undelivered rows): notifications fallen due
--              and not delivered, and the age of the oldest since it fell due (0 when none)
--   absences: [{"centre","open"}] per centre
--   alerts:   [{"centre","kind","open"}] per centre and kind (alert_kinds, and any kind of an
--              open alert): alerts neither acknowledged nor resolved
--   alert_priorities: [{"centre","priority","open"}] the same per centre and priority
--              (alert_priority_of: the kind's, urgent for an absence with a concern)
--   channels: [{"centre","channel","kind","undelivered","oldest_seconds"}] per on-call channel
--              in use (and any other with undelivered rows): alert deliveries fallen due and not
--              delivered, and the age of the oldest (0 when none)
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
                          ORDER BY c.id, k.kind), '[]'::jsonb)
                   FROM centres c
                   CROSS JOIN (SELECT ak.kind FROM alert_kinds ak
                               UNION
                               SELECT al.kind FROM alerts al
                               WHERE al.acked_at IS NULL AND al.resolved_at IS NULL) AS k
                   LEFT JOIN (SELECT al.centre, al.kind, count(*) AS n FROM alerts al
                              WHERE al.acked_at IS NULL AND al.resolved_at IS NULL
                              GROUP BY al.centre, al.kind) AS o
                          ON o.centre = c.id AND o.kind = k.kind),
        'alert_priorities', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                        'centre', c.id, 'priority', p.priority,
                                        'open', coalesce(o.n, 0))
                                    ORDER BY c.id, p.position), '[]'::jsonb)
                             FROM centres c
                             CROSS JOIN unnest(ARRAY['urgent', 'normal', 'info'])
                                  WITH ORDINALITY AS p(priority, position)
                             LEFT JOIN (SELECT al.centre, alert_priority_of(al.id) AS priority,
                                               count(*) AS n
                                        FROM alerts al
                                        WHERE al.acked_at IS NULL AND al.resolved_at IS NULL
                                        GROUP BY 1, 2) AS o
                                    ON o.centre = c.id AND o.priority = p.priority),
        'channels', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                'centre', ch.centre, 'channel', ch.id::text, 'kind', ch.kind,
                                'undelivered', coalesce(backlog.n, 0),
                                'oldest_seconds', coalesce(backlog.oldest, 0))
                            ORDER BY ch.centre, ch.id), '[]'::jsonb)
                     FROM oncall_channels ch
                     LEFT JOIN (SELECT cd.channel, count(*) AS n,
                                       extract(epoch FROM p_now - min(cd.due_at)) AS oldest
                                FROM channel_deliveries cd
                                WHERE cd.delivered_at IS NULL AND cd.due_at <= p_now
                                GROUP BY cd.channel) AS backlog
                            ON backlog.channel = ch.id
                     WHERE ch.removed_at IS NULL OR backlog.n > 0))
$$;

-- GET /metrics: api() has checked the role (admin or metrics); the C handler writes the text
-- from this answer and its own counters.
CREATE FUNCTION op_metrics(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE sql STABLE AS $$ SELECT 200, metrics_snapshot(ctx_now(ctx)) $$;

-- The outbox backlog in one row, for the daemon's STATUS= line (daemon/service.c, what
-- `systemctl status rollcalld` shows): notifications to the authorities fallen due by p_now and
-- not delivered, and the age in seconds of the oldest since it fell due (0 when none). The same
-- rows as metrics_snapshot's outbox series, summed over centres and authorities.
CREATE FUNCTION outbox_backlog(p_now timestamptz, OUT undelivered bigint, OUT oldest_seconds double precision)
LANGUAGE sql STABLE AS $$
    SELECT count(*), coalesce(extract(epoch FROM p_now - min(d.due_at)), 0)::double precision
    FROM deliveries d
    WHERE d.delivered_at IS NULL AND d.due_at <= p_now
$$;
