-- Tables of the outbox of notifications to the authorities (SPEC sections 3, 5, 7a, 10
-- Webhooks): one outbox row per decision to notify, one delivery row per authority with a stable
-- event id, and the incident reports (IN8, IN9, IN10, underretning) that go the same way. Their
-- code is in schema/code/outbox.sql and incidents.sql.

-- ---------------------------------------------------------------------------------------------
-- Policy and routing: data, not code
-- ---------------------------------------------------------------------------------------------

-- How long a notification may stay undelivered after it fell due before on-call staff are
-- told to phone the authority (SPEC section 5: 15 minutes).
CREATE TABLE notification_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    failing_after interval NOT NULL CHECK (failing_after > interval '0')
);
INSERT INTO notification_settings (failing_after) VALUES (interval '15 minutes');

-- Incident reports (SPEC section 7a): who receives each kind, as what webhook type, and whether
-- the police report number is required.
CREATE TABLE incident_routes (
    kind text PRIMARY KEY CHECK (kind ~ '^[a-z0-9_]{1,32}$'),
    type text NOT NULL UNIQUE CHECK (type ~ '^incident\.[a-z0-9_]{1,32}$'),
    recipients text[] NOT NULL
        CHECK (cardinality(recipients) > 0
               AND recipients <@ ARRAY['municipality', 'police', 'immigration']),
    needs_police_report boolean NOT NULL DEFAULT false,
    description text NOT NULL
);
INSERT INTO incident_routes (kind, type, recipients, needs_police_report, description) VALUES
    ('in8', 'incident.in8', '{immigration}', false,
     'IN8: suspected radicalisation or harassment, to the Immigration Service'),
    ('in9', 'incident.in9', '{immigration,police}', true,
     'IN9: crime, to the Immigration Service and the police, with the police report number'),
    ('in10', 'incident.in10', '{immigration}', false,
     'IN10: use of force against a resident, to the Immigration Service'),
    ('underretning', 'incident.underretning', '{municipality}', false,
     'Skærpet underretningspligt: a child at risk, to the municipality''s social services');

-- ---------------------------------------------------------------------------------------------
-- Outbox and deliveries
-- ---------------------------------------------------------------------------------------------

-- One row per decision to notify, written in the transaction that takes the decision.
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres,
    type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*\.[a-z0-9_]+$'),
    absence bigint,                     -- the absence (006 owns the table), or NULL
    resident bigint REFERENCES residents,
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'), -- body without event_id
    due_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    reported_alert bigint,              -- the absence_reported alert, once raised
    UNIQUE (id, centre)                 -- for the deliveries' foreign key
);
CREATE INDEX outbox_absence ON outbox (absence) WHERE absence IS NOT NULL;

-- One row per event and authority: what the sender delivers and GET /v1/notifications shows.
-- Leases are in wall-clock time (see outbox_claim); everything else is on the daemon's clock.
CREATE TABLE deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox bigint NOT NULL,
    event_id text NOT NULL UNIQUE CHECK (event_id ~ '^evt_[0-9a-f]{32}$'),
    type text NOT NULL,
    centre text NOT NULL,               -- the outbox row's: one check proves both (see below)
    authority text NOT NULL CHECK (authority IN ('municipality', 'police', 'immigration')),
    absence bigint,
    due_at timestamptz NOT NULL,
    delivered_at timestamptz,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_attempt_at timestamptz,
    last_error text,                    -- the last failed attempt's reason (kept after success)
    lease_owner text,                   -- the instance sending it now
    lease_until timestamptz,            -- wall clock
    failing_alert bigint,               -- the notification_failing alert, once raised
    UNIQUE (outbox, authority),
    CHECK ((lease_owner IS NULL) = (lease_until IS NULL)),
    FOREIGN KEY (outbox, centre) REFERENCES outbox (id, centre)
);
-- Per centre and authority, the pending deliveries in the order they are sent: outbox_claim
-- reads only the first few of each (never the whole backlog), and outbox_delivered finds the
-- ones waiting on an endpoint that is back.
CREATE INDEX deliveries_pending ON deliveries (centre, authority, next_attempt_at, id)
    WHERE delivered_at IS NULL;
CREATE INDEX deliveries_absence ON deliveries (absence, authority, id) WHERE absence IS NOT NULL;
CREATE INDEX deliveries_centre ON deliveries (centre, id);
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Enqueueing
-- ---------------------------------------------------------------------------------------------

-- One notification to write: the arguments of outbox_enqueue_for as a row, so that a decision
-- taken for many absences at once (the timing engine after a restart) writes them in one
-- statement per table instead of one function call per absence.
CREATE TYPE outbox_item AS (
    centre text,
    type text,
    payload jsonb,
    kinds text[],
    due_at timestamptz,
    absence bigint,
    resident bigint
);

-- ---------------------------------------------------------------------------------------------
-- Incidents (SPEC section 7a)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE incidents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    centre text NOT NULL REFERENCES centres,
    kind text NOT NULL REFERENCES incident_routes,
    occurred_at timestamptz NOT NULL,
    description text NOT NULL CHECK (length(description) > 0),
    police_report_number text,
    reported_at timestamptz NOT NULL,
    reported_by text NOT NULL,
    outbox bigint REFERENCES outbox
);
CREATE INDEX incidents_centre ON incidents (centre, id);
CREATE INDEX incidents_resident ON incidents (resident, id);
