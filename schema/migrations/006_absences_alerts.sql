-- Tables of absences and their reporting rules, on-call alerts with their event log, and the
-- timing engine's due rows (SPEC sections 3, 4 and 8). Their code is in schema/code/
-- (absences.sql, alerts.sql, timing.sql, rounds.sql).

-- ---------------------------------------------------------------------------------------------
-- Reporting rules: when and to whom authorities are notified. Data, not code: the law changes.
-- ---------------------------------------------------------------------------------------------

-- A rule applies to absences whose `since` falls (as a local date) in [valid_from, valid_to) and
-- whose resident's age on that date is in [min_age, max_age]. Threshold rules give the hours
-- after `since`; the concern and known_departure rules name the recipients of an immediate
-- notification (hours = 0).
CREATE TABLE threshold_rules (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason text NOT NULL
        CHECK (reason IN ('threshold_12h', 'threshold_24h', 'concern', 'known_departure')),
    min_age integer NOT NULL DEFAULT 0 CHECK (min_age >= 0),
    max_age integer CHECK (max_age IS NULL OR max_age >= min_age),
    hours integer NOT NULL CHECK (hours BETWEEN 0 AND 720),
    recipients text[] NOT NULL
        CHECK (cardinality(recipients) > 0
               AND recipients <@ ARRAY['municipality', 'police', 'immigration']),
    valid_from date NOT NULL,
    valid_to date CHECK (valid_to IS NULL OR valid_to > valid_from),
    note text,
    CHECK ((reason IN ('concern', 'known_departure')) = (hours = 0))
);

-- The operator contract (REGISTRERING AF UDEBLEVEN UMI): 12 hours under 15, 24 hours from 15;
-- at once on a known departure or a special concern; all three authorities every time.
INSERT INTO threshold_rules (reason, min_age, max_age, hours, recipients, valid_from, note) VALUES
    ('threshold_12h', 0, 14, 12, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: under 15, notify 12 hours after the resident was last accounted for'),
    ('threshold_24h', 15, NULL, 24, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: 15 or over, notify 24 hours after the resident was last accounted for'),
    ('concern', 0, NULL, 0, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: special concern, notify at once'),
    ('known_departure', 0, NULL, 0, '{municipality,police,immigration}', '2000-01-01',
     'Operator contract: staff know the resident has left the centre, notify at once');

-- ---------------------------------------------------------------------------------------------
-- Absences
-- ---------------------------------------------------------------------------------------------

CREATE TABLE absences (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    centre text NOT NULL REFERENCES centres,
    since timestamptz NOT NULL,           -- last instant the resident was accounted for
    opened_at timestamptz NOT NULL,       -- the clock when it was opened
    opened_by text NOT NULL,
    opened_round_at timestamptz,          -- the round whose `absent` opened it, NULL: a report
    age_at_since integer NOT NULL,        -- completed years on the local date of since
    rule bigint REFERENCES threshold_rules,
    notify_at timestamptz NOT NULL,       -- when authorities are (or were) to be notified
    reason text NOT NULL
        CHECK (reason IN ('threshold_12h', 'threshold_24h', 'concern', 'known_departure')),
    recipients text[] NOT NULL,           -- authority kinds, from the rule
    known_departure boolean NOT NULL DEFAULT false,
    concern text,
    concern_at timestamptz,
    concern_by text,
    notified_at timestamptz,              -- the instant the decision to notify was committed
    returned_at timestamptz,              -- back (or observed present) at this instant
    closed_at timestamptz,                -- the clock when the return was recorded
    closed_by text,
    note text,
    reports integer NOT NULL DEFAULT 1,   -- reports and absent observations it is made of
    CHECK (returned_at IS NULL OR returned_at >= since),
    CHECK ((returned_at IS NULL) = (closed_at IS NULL)),
    CHECK ((concern IS NULL) = (concern_at IS NULL))
);
-- One open absence per resident is a constraint, not a check in code: two concurrent reports
-- cannot both open one.
CREATE UNIQUE INDEX absences_one_open ON absences (resident) WHERE returned_at IS NULL;
CREATE INDEX absences_centre ON absences (centre, id);
CREATE INDEX absences_resident ON absences (resident, returned_at);

-- ---------------------------------------------------------------------------------------------
-- Alerts and their event log (the SSE stream replays from it)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE alerts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('resident_absent', 'round_overdue', 'absence_reported',
                                       'notification_failing', 'resident_returned',
                                       'turning_18')),
    centre text NOT NULL REFERENCES centres,
    resident bigint REFERENCES residents,
    absence bigint REFERENCES absences,
    raised_at timestamptz NOT NULL,
    last_announced_at timestamptz NOT NULL,
    announcements integer NOT NULL DEFAULT 1,
    acked_at timestamptz,
    acked_by text,
    escalated_at timestamptz,
    resolved_at timestamptz,
    details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    CHECK ((acked_at IS NULL) = (acked_by IS NULL))
);
-- "Nothing twice" for the alerts a due event or an absence raises, whatever retries happen.
CREATE UNIQUE INDEX alerts_once_per_absence ON alerts (kind, absence)
    WHERE kind IN ('resident_absent', 'resident_returned');
CREATE UNIQUE INDEX alerts_once_per_round ON alerts (centre, (details->>'date'), (details->>'slot'))
    WHERE kind = 'round_overdue';
CREATE UNIQUE INDEX alerts_once_per_birthday ON alerts (resident, (details->>'birthday'))
    WHERE kind = 'turning_18';
CREATE INDEX alerts_centre ON alerts (centre, id);
CREATE INDEX alerts_absence ON alerts (absence) WHERE absence IS NOT NULL;

-- seq is the SSE `id:`. Within a centre, seq order is commit order (alert_event_emit takes a
-- per-centre lock before drawing it), so a watcher that has seen seq N has seen every earlier
-- event of its centre and Last-Event-ID replay misses nothing.
CREATE TABLE alert_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres,
    alert bigint NOT NULL REFERENCES alerts,
    kind text NOT NULL CHECK (kind IN ('raised', 'reannounced', 'escalated', 'acked', 'resolved')),
    at timestamptz NOT NULL,
    body jsonb NOT NULL                   -- the alert JSON as it was at this event
);
CREATE INDEX alert_events_centre ON alert_events (centre, seq);

-- ---------------------------------------------------------------------------------------------
-- The timing engine's due rows
-- ---------------------------------------------------------------------------------------------

-- Every instant at which something must be decided. due_process() claims rows with
-- FOR UPDATE SKIP LOCKED and deletes each in the transaction that decides it, so each fires
-- once however many daemons run. kind names the handler due_<kind>(ref bigint, now timestamptz).
CREATE TABLE due_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,40}$'),
    ref bigint NOT NULL,
    centre text REFERENCES centres ON DELETE CASCADE,
    due_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,  -- failed attempts: the handler raised an error
    last_error text,
    UNIQUE NULLS NOT DISTINCT (kind, ref, centre, due_at)
);
CREATE INDEX due_events_due ON due_events (due_at, id);
CREATE INDEX due_events_ref ON due_events (ref, kind);
-- A queue table: every decided row is deleted, and the dead rows sit at the front of the due_at
-- index that every due_process scan starts from. Vacuum it after a thousand of them rather than
-- after a fifth of the table.
ALTER TABLE due_events SET (autovacuum_vacuum_scale_factor = 0.0,
                            autovacuum_vacuum_threshold = 1000,
                            autovacuum_analyze_scale_factor = 0.05);

-- A round's completion deadline (scheduled + grace), so that round_due has a row to point at.
-- Rounds themselves are not stored (DESIGN.md); this is only the engine's bookkeeping.
CREATE TABLE round_deadlines (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres ON DELETE CASCADE,
    date date NOT NULL,
    slot smallint NOT NULL CHECK (slot BETWEEN 1 AND 3),
    scheduled_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    checked_at timestamptz,
    UNIQUE (centre, date, slot)
);

-- The scheduler's first run: due at once, whatever the clock says.
INSERT INTO due_events (kind, ref, centre, due_at)
    VALUES ('rounds_schedule', 0, NULL, '2000-01-01 00:00:00+00');