-- Tables of the cash allowances (SPEC sections 6, 9 and 10): rates with validity dates,
-- sanctions with their IN12 report to the Immigration Service, special agreements, payouts,
-- and the change log that lets a paid period be reused. The facts query and the operations are
-- in schema/code/allowances.sql; the money is computed in C (daemon/allowance.c).

-- ---------------------------------------------------------------------------------------------
-- Settings: data, not code
-- ---------------------------------------------------------------------------------------------

-- Deployment settings that SQL must see (SQL cannot read the daemon's INI file). Another
-- migration may add keys of its own; hence IF NOT EXISTS and ON CONFLICT.
CREATE TABLE IF NOT EXISTS settings (
    key text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO settings (key, value) VALUES
    -- The first day of the first 14-day allowance period; periods follow every 14 days.
    ('allowance_anchor', '2026-01-05'),
    -- How many paid periods before a period are looked at for corrections to carry into it.
    ('allowance_correction_periods', '4')
ON CONFLICT (key) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Rates
-- ---------------------------------------------------------------------------------------------

-- Per-day rates with inclusive validity dates (valid_to NULL: until further notice). Overlap
-- of one kind is refused by an exclusion constraint per kind: range types have GiST support
-- built in, and a WHERE per kind avoids the btree_gist extension (not every deployment may
-- create extensions) while still letting the database, not a check in code, refuse overlaps
-- of concurrent inserts.
CREATE TABLE rates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('base', 'supplement_phase1', 'supplement_phase2')),
    per_day_ore integer NOT NULL CHECK (per_day_ore BETWEEN 0 AND 100000000),
    valid_from date NOT NULL,
    valid_to date,
    created_at timestamptz,             -- NULL for the rates this migration seeds
    created_by text NOT NULL,
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CONSTRAINT rates_base_no_overlap EXCLUDE USING gist
        (daterange(valid_from, valid_to, '[]') WITH &&) WHERE (kind = 'base'),
    CONSTRAINT rates_supplement_phase1_no_overlap EXCLUDE USING gist
        (daterange(valid_from, valid_to, '[]') WITH &&) WHERE (kind = 'supplement_phase1'),
    CONSTRAINT rates_supplement_phase2_no_overlap EXCLUDE USING gist
        (daterange(valid_from, valid_to, '[]') WITH &&) WHERE (kind = 'supplement_phase2')
);

-- The operator contract's figures (SPEC section 6), in force from well before the first period
-- so that no payable day is ever without a rate.
INSERT INTO rates (kind, per_day_ore, valid_from, valid_to, created_by) VALUES
    ('base', 5841, date '2000-01-01', NULL, 'migration 007'),
    ('supplement_phase1', 975, date '2000-01-01', NULL, 'migration 007'),
    ('supplement_phase2', 3408, date '2000-01-01', NULL, 'migration 007');

-- ---------------------------------------------------------------------------------------------
-- Sanctions, special agreements, payouts
-- ---------------------------------------------------------------------------------------------

-- A sanction withdraws `percent` of the supplement on every day from from_date to to_date
-- (both included). Overlapping sanctions are combined: their percentages add up per day,
-- capped at 100 % (a second decision about other conduct must not be refused, and the cap
-- keeps a day's withdrawal within its supplement).
CREATE TABLE sanctions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    centre text NOT NULL REFERENCES centres,   -- the centre that decided and reported it
    from_date date NOT NULL,
    to_date date NOT NULL,
    percent integer NOT NULL CHECK (percent BETWEEN 1 AND 100),
    reason text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 4000),
    heard_at timestamptz NOT NULL,             -- when the resident was heard (partshøring)
    decided_at timestamptz NOT NULL,
    decided_by text NOT NULL,
    in12_outbox bigint NOT NULL REFERENCES outbox,
    CHECK (to_date >= from_date),
    CHECK (heard_at <= decided_at)
);
CREATE INDEX sanctions_resident ON sanctions (resident, from_date);

-- A special agreement (særaftale): proxy_name may collect the resident's allowance on the days
-- from from_date to to_date (both included; to_date NULL: until further notice).
CREATE TABLE agreements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    proxy_name text NOT NULL CHECK (length(btrim(proxy_name)) BETWEEN 1 AND 200),
    from_date date NOT NULL,
    to_date date,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    CHECK (to_date IS NULL OR to_date >= from_date)
);
CREATE INDEX agreements_resident ON agreements (resident, from_date);

-- A paid period. UNIQUE (resident, period_start) is what makes a period paid once: a second
-- payout, even one racing the first, fails on the constraint rather than on a prior look.
-- `statement` is the statement as paid; it never changes. net_ore is what the period itself was
-- worth then (lines minus withdrawals), adjustment_ore the corrections of earlier periods paid
-- with it (see payout_corrections), amount_ore what changed hands.
CREATE TABLE payouts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents,
    period_start date NOT NULL,
    centre text NOT NULL REFERENCES centres,
    collected_by text NOT NULL CHECK (length(btrim(collected_by)) BETWEEN 1 AND 200),
    agreement bigint REFERENCES agreements,
    paid_at timestamptz NOT NULL,
    paid_by text NOT NULL,
    net_ore bigint NOT NULL CHECK (net_ore >= 0),
    adjustment_ore bigint NOT NULL,
    amount_ore bigint NOT NULL CHECK (amount_ore >= 0),
    statement jsonb NOT NULL CHECK (jsonb_typeof(statement) = 'object'),
    -- The change counters as of the facts this payout paid (allowance_input_versions,
    -- allowance_rules_version); NULL when those facts depended on the instant they were
    -- computed at (an absence still open), so that the period is always recomputed.
    inputs_version bigint,
    rules_version bigint,
    CONSTRAINT payouts_once_per_period UNIQUE (resident, period_start),
    CHECK ((inputs_version IS NULL) = (rules_version IS NULL)),
    CHECK ((collected_by = 'self') = (agreement IS NULL)),
    CHECK (amount_ore = net_ore + adjustment_ore)
);

-- Which earlier period each part of a payout's adjustment corrects. A period is settled at its
-- payout's net_ore plus every correction of it paid later; what it is worth now minus that is
-- the correction still to carry.
CREATE TABLE payout_corrections (
    payout bigint NOT NULL REFERENCES payouts,
    resident bigint NOT NULL REFERENCES residents,
    period_start date NOT NULL,            -- the corrected (earlier, paid) period
    amount_ore bigint NOT NULL,
    PRIMARY KEY (payout, period_start)
);
CREATE INDEX payout_corrections_period ON payout_corrections (resident, period_start);

-- The centre statements walk a centre's stays in resident order, a page at a time.
CREATE INDEX stays_centre_resident ON stays (centre, resident);

-- ---------------------------------------------------------------------------------------------
-- What changed since a period was paid
-- ---------------------------------------------------------------------------------------------

-- A statement carries the corrections of the paid periods before it, and finding them means
-- knowing what each paid period is worth now. Recomputing every paid period for every statement
-- was two thirds of a centre's export; yet a paid period can only be worth something else when
-- an input of its arithmetic changed afterwards and that change reaches a day of the period.
-- So every change to such an input is logged, per resident, with the first day it can affect,
-- and a payout remembers the counters as of the facts it paid: a paid period with no change
-- logged since that reaches before its end is worth exactly what its payout computed (its
-- net_ore), and is not recomputed (allowance_items).
--
-- The inputs are those allowance_facts() reads: a resident's stays, phases, absences (since,
-- returned_at), sanctions and date of birth (per resident, below), and the rates and the
-- centres' meal scheme and time zone (rules, for everybody). A change of the arithmetic itself
-- (in the code layer or the daemon) must log a rules change from '-infinity', and so must an
-- operator after a time zone database update that moves a centre's midnights: an operator with
-- SELECT allowance_rules_changed('-infinity'), a migration by writing out that function's two
-- statements (migrations call no code-layer function).
--
-- Counters rather than timestamps or sequence numbers: the counter row is updated under its row
-- lock, so a resident's changes commit in counter order, and a change that commits after the
-- facts' snapshot always has a higher number than the one that snapshot saw.

CREATE TABLE allowance_input_versions (
    resident bigint PRIMARY KEY REFERENCES residents,
    version bigint NOT NULL CHECK (version > 0)
);

CREATE TABLE allowance_input_changes (
    resident bigint NOT NULL,
    version bigint NOT NULL,
    affects_from date NOT NULL,    -- no day before this one can be paid differently
    PRIMARY KEY (resident, version)
);

CREATE TABLE allowance_rules_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version bigint NOT NULL
);
INSERT INTO allowance_rules_version (version) VALUES (0);

CREATE TABLE allowance_rule_changes (
    version bigint PRIMARY KEY,
    affects_from date NOT NULL
);

-- 'off' recomputes every paid period of the correction window, as if every one had changed:
-- an operator's way to rule the change log out when a figure is in doubt, and the reference
-- the tests compare against.
INSERT INTO settings (key, value) VALUES ('allowance_reuse_paid', 'on')
ON CONFLICT (key) DO NOTHING;
