-- Alert kinds as data (SPEC section 4, v2): each kind's priority and its repeat and escalation
-- times, the new kind notification_unconfirmed, and a centre's on-call channels (e-mail and
-- signed webhooks) with the deliveries of alerts to them. Their code is in schema/code/
-- (alerts.sql, oncall.sql).

-- ---------------------------------------------------------------------------------------------
-- Alert kinds
-- ---------------------------------------------------------------------------------------------

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('resident_absent', 'round_overdue', 'absence_reported',
                    'notification_failing', 'resident_returned', 'turning_18',
                    'notification_unconfirmed'));

-- One row per kind; an admin changes them with PUT /v1/alert-kinds/{kind}. NULL minutes: never
-- repeated (or escalated). Info alerts are never repeated nor escalated whatever the row says.
CREATE TABLE alert_kinds (
    kind text PRIMARY KEY
        CHECK (kind IN ('resident_absent', 'round_overdue', 'absence_reported',
                        'notification_failing', 'resident_returned', 'turning_18',
                        'notification_unconfirmed')),
    priority text NOT NULL CHECK (priority IN ('urgent', 'normal', 'info')),
    repeat_minutes integer CHECK (repeat_minutes BETWEEN 1 AND 10080),
    escalate_minutes integer CHECK (escalate_minutes BETWEEN 1 AND 10080),
    changed_at timestamptz,
    changed_by text
);
INSERT INTO alert_kinds (kind, priority, repeat_minutes, escalate_minutes) VALUES
    ('resident_absent', 'normal', 5, 15),
    ('round_overdue', 'normal', 5, 15),
    ('absence_reported', 'urgent', 5, 15),
    ('notification_failing', 'urgent', 5, 15),
    ('resident_returned', 'info', NULL, NULL),
    ('turning_18', 'info', NULL, NULL),
    ('notification_unconfirmed', 'urgent', 5, 15);

-- A centre's own repeat and escalation times now override the kind's only where set. Until
-- now every centre had them (default 5 and 15, the kinds' defaults now): those defaults become
-- "not set", so such a centre follows the kinds; a centre given other times keeps them.
ALTER TABLE centres ALTER COLUMN repeat_minutes DROP NOT NULL,
                    ALTER COLUMN repeat_minutes DROP DEFAULT,
                    ALTER COLUMN escalate_minutes DROP NOT NULL,
                    ALTER COLUMN escalate_minutes DROP DEFAULT;
UPDATE centres SET repeat_minutes = NULL WHERE repeat_minutes = 5;
UPDATE centres SET escalate_minutes = NULL WHERE escalate_minutes = 15;

-- ---------------------------------------------------------------------------------------------
-- On-call channels and their deliveries
-- ---------------------------------------------------------------------------------------------

-- A centre's channels, in the order the admin listed them (position). A channel's `address`
-- is the e-mail address or the https URL; `secret` only for webhooks.
CREATE TABLE oncall_channels (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres,
    position integer NOT NULL CHECK (position >= 0),
    kind text NOT NULL CHECK (kind IN ('email', 'webhook')),
    address text NOT NULL,
    secret text,
    min_priority text NOT NULL CHECK (min_priority IN ('urgent', 'normal', 'info')),
    removed_at timestamptz,               -- taken off the list; kept for its deliveries
    CHECK ((kind = 'webhook') = (secret IS NOT NULL))
);
CREATE INDEX oncall_channels_centre ON oncall_channels (centre, position) WHERE removed_at IS NULL;

-- One row per alert event (raise, repeat, escalation) and channel, with a stable event id
-- that every retry reuses (the webhook-id, and the e-mail's Message-ID). Retries, backoff and
-- leases as the authorities' deliveries (005), in a table of their own so that a failing
-- channel never takes a slot of an authority's.
CREATE TABLE channel_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL UNIQUE CHECK (event_id ~ '^evt_[0-9a-f]{32}$'),
    channel bigint NOT NULL REFERENCES oncall_channels,
    centre text NOT NULL REFERENCES centres,
    alert bigint NOT NULL REFERENCES alerts,
    alert_event bigint NOT NULL REFERENCES alert_events,
    type text NOT NULL CHECK (type IN ('alert.raised', 'alert.repeated', 'alert.escalated')),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'), -- body without event_id
    due_at timestamptz NOT NULL,
    delivered_at timestamptz,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_attempt_at timestamptz,
    last_error text,
    lease_owner text,
    lease_until timestamptz,              -- wall clock
    failing_alert bigint REFERENCES alerts,
    UNIQUE (alert_event, channel),        -- once per event and channel, whatever retries
    CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
CREATE INDEX channel_deliveries_pending ON channel_deliveries (channel, next_attempt_at, id)
    WHERE delivered_at IS NULL;
CREATE INDEX channel_deliveries_centre ON channel_deliveries (centre, id);
CREATE INDEX channel_deliveries_alert ON channel_deliveries (alert);
