-- Checks of the allowance change log (schema/007: allowance_input_changed and its triggers,
-- allowance_paid_periods, allowance_items reusing paid periods). A paid period is taken at its
-- payout's worth instead of being recomputed only while no change logged since reaches before
-- its end, so every input of the arithmetic must log, from a day no later than the first day it
-- can change. Any failed expectation raises. Run against a migrated database:
--     psql -X -v ON_ERROR_STOP=1 -d DB -f tests/sql/allowance_changes_checks.sql
-- Everything happens in one transaction that is rolled back at the end.
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = error;

-- The changes logged for a resident after version v, oldest first.
CREATE FUNCTION pg_temp.logged(r bigint, v bigint) RETURNS date[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(c.affects_from ORDER BY c.version), '{}')
    FROM allowance_input_changes c WHERE c.resident = r AND c.version > v
$$;
CREATE FUNCTION pg_temp.version(r bigint) RETURNS bigint
LANGUAGE sql AS $$
    SELECT coalesce((SELECT v.version FROM allowance_input_versions v WHERE v.resident = r), 0)
$$;
CREATE FUNCTION pg_temp.expect(what text, got date[], want date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF got IS DISTINCT FROM want THEN
        RAISE EXCEPTION '%: logged %, expected %', what, got, want;
    END IF;
END $$;

DO $$
DECLARE
    r bigint;
    other bigint;
    v bigint;
    stay bigint;
    absence bigint;
    sanction bigint;
    outbox_id bigint;
    rules bigint;
BEGIN
    INSERT INTO centres (id, name, capacity, created_at)
    VALUES ('chk-a', 'Check A', 10, now()), ('chk-b', 'Check B', 10, now());
    INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)
    VALUES ('chk-1', 'A', 'B', '2010-05-01', now()) RETURNING id INTO r;
    INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)
    VALUES ('chk-2', 'C', 'D', '2010-05-01', now()) RETURNING id INTO other;

    -- Stays: a new stay from its first day; a changed end from the earlier end; a changed
    -- centre from the first day; a removed stay from its first day.
    v := pg_temp.version(r);
    INSERT INTO stays (resident, centre, from_date) VALUES (r, 'chk-a', '2026-01-05')
    RETURNING id INTO stay;
    PERFORM pg_temp.expect('stay inserted', pg_temp.logged(r, v), '{2026-01-05}');
    v := pg_temp.version(r);
    UPDATE stays SET to_date = '2026-03-10' WHERE id = stay;
    UPDATE stays SET to_date = '2026-03-08' WHERE id = stay;
    UPDATE stays SET to_date = NULL WHERE id = stay;
    UPDATE stays SET to_date = NULL WHERE id = stay;               -- no change: no log
    PERFORM pg_temp.expect('stay end moved', pg_temp.logged(r, v),
                           '{2026-03-10,2026-03-08,2026-03-08}');
    v := pg_temp.version(r);
    UPDATE stays SET centre = 'chk-b' WHERE id = stay;
    UPDATE stays SET from_date = '2026-01-02' WHERE id = stay;
    PERFORM pg_temp.expect('stay centre and start', pg_temp.logged(r, v),
                           '{2026-01-05,2026-01-02}');
    v := pg_temp.version(r);
    UPDATE stays SET resident = other WHERE id = stay;
    PERFORM pg_temp.expect('stay moved away', pg_temp.logged(r, v), '{2026-01-02}');
    PERFORM pg_temp.expect('stay moved here', pg_temp.logged(other, 0), '{2026-01-02}');
    v := pg_temp.version(other);
    DELETE FROM stays WHERE id = stay;
    PERFORM pg_temp.expect('stay removed', pg_temp.logged(other, v), '{2026-01-02}');
    INSERT INTO stays (resident, centre, from_date) VALUES (r, 'chk-a', '2026-01-05');

    -- Phases: from their date, except the first phase, which applies before it too.
    v := pg_temp.version(r);
    INSERT INTO phases (resident, phase, from_date) VALUES (r, 1, '2026-01-05');
    INSERT INTO phases (resident, phase, from_date) VALUES (r, 2, '2026-02-20');
    UPDATE phases SET phase = 3 WHERE resident = r AND from_date = '2026-02-20';
    UPDATE phases SET phase = 2 WHERE resident = r AND from_date = '2026-01-05';
    DELETE FROM phases WHERE resident = r AND from_date = '2026-02-20';
    INSERT INTO phases (resident, phase, from_date) VALUES (r, 1, '2026-03-01');
    DELETE FROM phases WHERE resident = r AND from_date = '2026-01-05';
    PERFORM pg_temp.expect('phases', pg_temp.logged(r, v),
                           '{-infinity,2026-02-20,2026-02-20,-infinity,2026-02-20,2026-03-01,'
                           '-infinity}');

    -- Absences: since and returned_at only, from the UTC date before the instant.
    v := pg_temp.version(r);
    INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since, notify_at,
                          reason, recipients)
    VALUES (r, 'chk-a', '2026-02-10 23:30+00', '2026-02-10 23:30+00', 'chk', 15,
            '2026-02-11 23:30+00', 'threshold_24h', '{police}')
    RETURNING id INTO absence;
    UPDATE absences SET notified_at = '2026-02-11 23:30+00', reports = reports + 1,
                        note = 'seen' WHERE id = absence;                    -- no log
    UPDATE absences SET returned_at = '2026-03-04 08:00+00', closed_at = '2026-03-04 08:00+00',
                        closed_by = 'chk' WHERE id = absence;
    UPDATE absences SET returned_at = '2026-02-20 08:00+00' WHERE id = absence;
    UPDATE absences SET since = '2026-02-12 07:00+00' WHERE id = absence;
    UPDATE absences SET since = '2026-02-09 07:00+00' WHERE id = absence;
    DELETE FROM absences WHERE id = absence;
    PERFORM pg_temp.expect('absences', pg_temp.logged(r, v),
                           '{2026-02-09,2026-03-03,2026-02-19,2026-02-09,2026-02-08,'
                           '2026-02-08}');

    -- Sanctions: from their first day (the earlier one when moved).
    v := pg_temp.version(r);
    INSERT INTO outbox (centre, type, payload, due_at, created_at)
    VALUES ('chk-a', 'sanction.in12', '{}', now(), now()) RETURNING id INTO outbox_id;
    INSERT INTO sanctions (resident, centre, from_date, to_date, percent, reason, heard_at,
                           decided_at, decided_by, in12_outbox)
    VALUES (r, 'chk-a', '2026-02-03', '2026-02-06', 50, 'chk', now(), now(), 'chk', outbox_id)
    RETURNING id INTO sanction;
    UPDATE sanctions SET percent = 60 WHERE id = sanction;
    UPDATE sanctions SET from_date = '2026-02-01' WHERE id = sanction;
    DELETE FROM sanctions WHERE id = sanction;
    PERFORM pg_temp.expect('sanctions', pg_temp.logged(r, v),
                           '{2026-02-03,2026-02-03,2026-02-01,2026-02-01}');

    -- Date of birth: every day (the 18th birthday may lie anywhere); names: nothing.
    v := pg_temp.version(r);
    UPDATE residents SET given_name = 'E' WHERE id = r;
    UPDATE residents SET date_of_birth = '2008-02-10' WHERE id = r;
    PERFORM pg_temp.expect('date of birth', pg_temp.logged(r, v), '{-infinity}');

    -- Rules: rates from their first day or the day after the earlier end; a centre's meals
    -- or time zone from the start.
    rules := (SELECT version FROM allowance_rules_version);
    UPDATE rates SET valid_to = '2026-03-15' WHERE kind = 'base' AND valid_to IS NULL;
    INSERT INTO rates (kind, per_day_ore, valid_from, created_by)
    VALUES ('base', 6000, '2026-03-16', 'chk');
    UPDATE centres SET name = 'Renamed' WHERE id = 'chk-a';                  -- no log
    UPDATE centres SET free_meals = true WHERE id = 'chk-a';
    UPDATE centres SET timezone = 'UTC' WHERE id = 'chk-b';
    PERFORM pg_temp.expect('rules',
                           (SELECT array_agg(g.affects_from ORDER BY g.version)
                            FROM allowance_rule_changes g WHERE g.version > rules),
                           '{2026-03-16,2026-03-16,-infinity,-infinity}');
    IF (SELECT version FROM allowance_rules_version) <> rules + 4 THEN
        RAISE EXCEPTION 'the rules counter did not count four changes';
    END IF;
END $$;

-- allowance_paid_periods: a change reaching before the period's end (day 14 is the next
-- period) makes it changed, one from that day or later does not; rules likewise; a payout
-- without counters (facts that depended on the clock) is never unchanged.
CREATE FUNCTION pg_temp.unchanged(r bigint, p date) RETURNS boolean
LANGUAGE sql AS $$ SELECT q.unchanged FROM allowance_paid_periods(r, p, p) q $$;

DO $$
DECLARE
    r bigint;
BEGIN
    INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)
    VALUES ('chk-3', 'F', 'G', '2011-01-01', now()) RETURNING id INTO r;
    INSERT INTO centres (id, name, capacity, created_at) VALUES ('chk-d', 'D', 10, now());
    PERFORM allowance_input_changed(r, '2026-01-05');
    INSERT INTO payouts (resident, period_start, centre, collected_by, paid_at, paid_by, net_ore,
                         adjustment_ore, amount_ore, statement, inputs_version, rules_version)
    SELECT r, p, 'chk-d', 'self', now(), 'chk', 100, 0, 100, '{}', v, g
    FROM (VALUES (date '2026-02-02', (SELECT version FROM allowance_input_versions
                                      WHERE resident = r),
                  (SELECT version FROM allowance_rules_version)),
                 (date '2026-01-19', NULL, NULL)) AS x(p, v, g);
    IF (SELECT count(*) FROM allowance_paid_periods(r, '2026-01-05', '2026-03-01')) <> 2
       OR (SELECT count(*) FROM allowance_paid_periods(r, '2026-01-20', '2026-03-01')) <> 1 THEN
        RAISE EXCEPTION 'allowance_paid_periods does not keep to its dates';
    END IF;
    IF pg_temp.unchanged(r, '2026-01-19') THEN
        RAISE EXCEPTION 'a payout without counters counted as unchanged';
    END IF;
    IF NOT pg_temp.unchanged(r, '2026-02-02') THEN
        RAISE EXCEPTION 'nothing changed, yet the period counts as changed';
    END IF;
    PERFORM allowance_input_changed(r, '2026-02-16');
    IF NOT pg_temp.unchanged(r, '2026-02-02') THEN
        RAISE EXCEPTION 'a change from the next period''s first day counted as changing it';
    END IF;
    PERFORM allowance_rules_changed('2026-02-16');
    IF NOT pg_temp.unchanged(r, '2026-02-02') THEN
        RAISE EXCEPTION 'a rules change after the period counted as changing it';
    END IF;
    PERFORM allowance_input_changed(r, '2026-02-15');
    IF pg_temp.unchanged(r, '2026-02-02') THEN
        RAISE EXCEPTION 'a change of the period''s last day did not count';
    END IF;
    -- Paid again after that change (a later payout's counters): unchanged until the rules
    -- change inside the period.
    UPDATE payouts SET inputs_version = (SELECT version FROM allowance_input_versions
                                         WHERE resident = r),
                       rules_version = (SELECT version FROM allowance_rules_version)
    WHERE resident = r AND period_start = '2026-02-02';
    IF NOT pg_temp.unchanged(r, '2026-02-02') THEN
        RAISE EXCEPTION 'counters taken after the change still count it';
    END IF;
    PERFORM allowance_rules_changed('2026-02-10');
    IF pg_temp.unchanged(r, '2026-02-02') THEN
        RAISE EXCEPTION 'a rules change inside the period did not count';
    END IF;
END $$;

-- allowance_items: a paid period unchanged since is left out of "earlier" (no correction) and,
-- as the period asked for, given at its payout's net_ore (no facts); changed, or with reuse
-- off, it is recomputed. allowance_inputs hands out the current counters, and null while an
-- open absence can still reach into the period.
DO $$
DECLARE
    r bigint;
    item jsonb;
    e jsonb;
    now_ timestamptz := '2026-03-05 12:00+00';
BEGIN
    INSERT INTO centres (id, name, capacity, created_at) VALUES ('chk-c', 'C', 10, now());
    INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)
    VALUES ('chk-4', 'H', 'I', '2011-01-01', now()) RETURNING id INTO r;
    INSERT INTO stays (resident, centre, from_date) VALUES (r, 'chk-c', '2026-01-05');
    INSERT INTO phases (resident, phase, from_date) VALUES (r, 1, '2026-01-05');

    item := jsonb_build_object('inputs', allowance_inputs(r, '2026-02-02', now_));
    IF item->'inputs'->>'inputs_version' IS DISTINCT FROM
           (SELECT version FROM allowance_input_versions WHERE resident = r)::text
       OR item->'inputs'->>'rules_version' IS DISTINCT FROM
           (SELECT version FROM allowance_rules_version)::text THEN
        RAISE EXCEPTION 'inputs % are not the current counters', item->'inputs';
    END IF;
    -- Paid at a deliberately wrong net_ore: reuse must show it, recomputing must not.
    INSERT INTO payouts (resident, period_start, centre, collected_by, paid_at, paid_by, net_ore,
                         adjustment_ore, amount_ore, statement, inputs_version, rules_version)
    VALUES (r, '2026-02-02', 'chk-c', 'self', now_, 'chk', 12345, 0, 12345, '{}',
            (item->'inputs'->>'inputs_version')::bigint,
            (item->'inputs'->>'rules_version')::bigint);

    item := allowance_items(ARRAY[r], '2026-03-02', now_)->0;
    IF item->'earlier' <> '[]' THEN
        RAISE EXCEPTION 'an unchanged paid period was recomputed: %', item->'earlier';
    END IF;
    item := allowance_items(ARRAY[r], '2026-02-02', now_)->0;
    IF item->>'worth_ore' IS DISTINCT FROM '12345' OR jsonb_typeof(item->'facts') <> 'null' THEN
        RAISE EXCEPTION 'an unchanged paid period''s own statement was recomputed: %', item;
    END IF;

    -- A change in the next period leaves it reused; reuse off recomputes it.
    INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since, notify_at,
                          reason, recipients, returned_at, closed_at, closed_by)
    VALUES (r, 'chk-c', '2026-03-03 07:00+00', now_, 'chk', 15, now_, 'threshold_12h',
            '{police}', '2026-03-04 07:00+00', now_, 'chk');
    item := allowance_items(ARRAY[r], '2026-03-02', now_)->0;
    IF item->'earlier' <> '[]' THEN
        RAISE EXCEPTION 'a change after the paid period made it recomputed: %', item->'earlier';
    END IF;
    UPDATE settings SET value = 'off' WHERE key = 'allowance_reuse_paid';
    e := allowance_items(ARRAY[r], '2026-03-02', now_)->0->'earlier'->0;
    IF (e->'facts'->>'payable_days')::int IS DISTINCT FROM 14
       OR e->>'settled_ore' IS DISTINCT FROM '12345' THEN
        RAISE EXCEPTION 'with reuse off the paid period was not recomputed: %', e;
    END IF;
    UPDATE settings SET value = 'on' WHERE key = 'allowance_reuse_paid';

    -- A late absence inside the paid period: recomputed, two whole days fewer.
    INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since, notify_at,
                          reason, recipients, returned_at, closed_at, closed_by)
    VALUES (r, 'chk-c', '2026-02-05 22:00+00', now_, 'chk', 15, now_, 'threshold_12h',
            '{police}', '2026-02-08 22:30+00', now_, 'chk');
    e := allowance_items(ARRAY[r], '2026-03-02', now_)->0->'earlier'->0;
    IF (e->'facts'->>'payable_days')::int IS DISTINCT FROM 12 THEN
        RAISE EXCEPTION 'a late absence in the paid period was not recomputed: %', e;
    END IF;

    -- An open absence that can still reach into the period: no counters to keep.
    INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since, notify_at,
                          reason, recipients)
    VALUES (r, 'chk-c', '2026-03-05 06:00+00', now_, 'chk', 15, now_, 'threshold_12h',
            '{police}');
    IF allowance_inputs(r, '2026-03-02', now_) IS NOT NULL THEN
        RAISE EXCEPTION 'facts that depend on the clock handed out counters';
    END IF;
    -- An open absence since after the period cannot reach into it.
    IF allowance_inputs(r, '2026-02-16', now_) IS NULL THEN
        RAISE EXCEPTION 'an open absence after the period withheld its counters';
    END IF;
    -- Once the period has ended everywhere, the open absence cannot change it any more.
    IF allowance_inputs(r, '2026-03-02', '2026-03-16 23:59+00') IS NOT NULL
       OR allowance_inputs(r, '2026-03-02', '2026-03-17 00:00+00') IS NULL THEN
        RAISE EXCEPTION 'counters withheld or handed out at the wrong instant';
    END IF;
END $$;

ROLLBACK;
