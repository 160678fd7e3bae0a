-- Release 2: the shift handover (SPEC section 4a, v2). At each of a centre's check times the
-- handover document is pushed on its alert streams and mailed to its e-mail channels, once,
-- whichever instance decides it (a due row, schema/code/handover.sql).

-- One row per check time and centre, made beside its round deadline (round_deadlines), so that
-- the timing engine has a row to decide and a check time is handed over once: sent_at is set
-- in the transaction that pushes and mails it.
CREATE TABLE handovers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres ON DELETE CASCADE,
    date date NOT NULL,
    slot smallint NOT NULL CHECK (slot BETWEEN 1 AND 3),
    at timestamptz NOT NULL,              -- the check time: the handover's instant
    sent_at timestamptz,                  -- decided: pushed and mailed (or superseded)
    superseded boolean NOT NULL DEFAULT false, -- a later check time had passed already
    alert_event bigint REFERENCES alert_events, -- the stream event that carried it
    UNIQUE (centre, date, slot)
);

-- The stream carries the handover as an event of the centre's sequence (so a reconnect with
-- Last-Event-ID replays it), an event of no alert.
ALTER TABLE alert_events ALTER COLUMN alert DROP NOT NULL;
ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('raised', 'reannounced', 'escalated', 'acked', 'resolved', 'handover'));
ALTER TABLE alert_events ADD CONSTRAINT alert_events_alert_unless_handover
    CHECK ((alert IS NULL) = (kind = 'handover'));

-- A handover mailed to an e-mail channel is a channel delivery of no alert, with the same
-- retries, backoff and failing visibility as an alert's.
ALTER TABLE channel_deliveries ALTER COLUMN alert DROP NOT NULL;
ALTER TABLE channel_deliveries DROP CONSTRAINT channel_deliveries_type_check;
ALTER TABLE channel_deliveries ADD CONSTRAINT channel_deliveries_type_check
    CHECK (type IN ('alert.raised', 'alert.repeated', 'alert.escalated', 'handover'));

-- Round deadlines scheduled before this release get their handovers: those whose round is
-- not yet checked (the check time ahead, or within its grace period).
INSERT INTO handovers (centre, date, slot, at)
SELECT rd.centre, rd.date, rd.slot, rd.scheduled_at
  FROM round_deadlines rd
 WHERE rd.checked_at IS NULL
ON CONFLICT DO NOTHING;
INSERT INTO due_events (kind, ref, centre, due_at)
SELECT 'handover', h.id, h.centre, h.at FROM handovers h
ON CONFLICT DO NOTHING;
