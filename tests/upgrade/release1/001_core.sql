-- Core tables: accounts, centres, residents with their stays, phases and date-of-birth history,
-- round observations, idempotency keys and the append-only audit log.
-- Instants are never taken from the database clock: every one arrives as a parameter.

CREATE TABLE clock_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    now timestamptz NOT NULL
);

CREATE TABLE centres (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    operator text NOT NULL DEFAULT '',
    capacity integer NOT NULL CHECK (capacity >= 0),
    timezone text NOT NULL DEFAULT 'Europe/Copenhagen',
    check_times time[] NOT NULL DEFAULT '{07:00,15:00,23:00}'
        CHECK (array_length(check_times, 1) = 3),
    grace_minutes integer NOT NULL DEFAULT 60 CHECK (grace_minutes BETWEEN 0 AND 1440),
    free_meals boolean NOT NULL DEFAULT false,
    repeat_minutes integer NOT NULL DEFAULT 5 CHECK (repeat_minutes BETWEEN 1 AND 1440),
    escalate_minutes integer NOT NULL DEFAULT 15 CHECK (escalate_minutes BETWEEN 1 AND 1440),
    created_at timestamptz NOT NULL
);
CREATE SEQUENCE centre_id_seq;

CREATE TABLE centre_authorities (
    centre text NOT NULL REFERENCES centres ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('municipality', 'police', 'immigration')),
    url text NOT NULL CHECK (url ~ '^https://'),
    secret text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]+=*$'),
    PRIMARY KEY (centre, kind)
);

CREATE TABLE accounts (
    cn text PRIMARY KEY CHECK (length(cn) BETWEEN 1 AND 64),
    role text NOT NULL CHECK (role IN ('staff', 'oncall', 'manager', 'admin', 'authority')),
    authority text CHECK (authority IN ('municipality', 'police', 'immigration')),
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    CHECK ((role = 'authority') = (authority IS NOT NULL))
);

CREATE TABLE account_centres (
    cn text NOT NULL REFERENCES accounts ON DELETE CASCADE,
    centre text NOT NULL REFERENCES centres,
    PRIMARY KEY (cn, centre)
);

CREATE TABLE residents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_number text NOT NULL UNIQUE CHECK (length(case_number) BETWEEN 1 AND 64),
    given_name text NOT NULL,
    family_name text NOT NULL,
    date_of_birth date NOT NULL,
    created_at timestamptz NOT NULL,
    anonymised_at timestamptz
);

CREATE TABLE resident_dob_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    old_date_of_birth date NOT NULL,
    new_date_of_birth date NOT NULL,
    reason text NOT NULL CHECK (length(reason) > 0),
    changed_at timestamptz NOT NULL,
    changed_by text NOT NULL
);

-- A resident's enrolment: consecutive stays when moving between centres.
-- from_date is the arrival day (enrolled), to_date the departure day (not enrolled).
CREATE TABLE stays (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    centre text NOT NULL REFERENCES centres,
    from_date date NOT NULL,
    to_date date,
    CHECK (to_date IS NULL OR to_date >= from_date)
);
CREATE INDEX stays_centre ON stays (centre, from_date);
CREATE INDEX stays_resident ON stays (resident, from_date);

CREATE TABLE phases (
    resident bigint NOT NULL REFERENCES residents,
    phase smallint NOT NULL CHECK (phase IN (1, 2, 3)),
    from_date date NOT NULL,
    PRIMARY KEY (resident, from_date)
);

CREATE TABLE observations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre text NOT NULL REFERENCES centres,
    date date NOT NULL,
    slot smallint NOT NULL CHECK (slot BETWEEN 1 AND 3),
    resident bigint NOT NULL REFERENCES residents,
    status text NOT NULL CHECK (status IN ('present', 'absent', 'excused')),
    reason text CHECK (reason IN ('leave', 'hospital', 'school_trip', 'authority_meeting', 'other')),
    note text,
    round_at timestamptz NOT NULL,      -- the round's scheduled instant
    recorded_at timestamptz NOT NULL,   -- when staff sent it (the clock)
    recorded_by text NOT NULL,
    current boolean NOT NULL DEFAULT true,
    CHECK ((status = 'excused') = (reason IS NOT NULL))
);
CREATE UNIQUE INDEX observations_one_current
    ON observations (centre, date, slot, resident) WHERE current;
CREATE INDEX observations_resident ON observations (resident, round_at) WHERE current;

CREATE TABLE idempotency (
    cn text NOT NULL,
    key text NOT NULL,
    req_hash text NOT NULL,
    status integer,
    body jsonb,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (cn, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    cn text NOT NULL,
    role text,
    action text NOT NULL,
    resident bigint,
    request_id text,
    remote text,
    outcome text NOT NULL,
    detail jsonb
);
CREATE INDEX audit_resident ON audit (resident, id);
CREATE INDEX audit_cn ON audit (cn, id);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
