-- Checks of the timing engine's batch dispatch (schema/code/timing.sql: due_process) and of the batch
-- enqueue of notifications (schema/005: outbox_enqueue_many). Any failed expectation raises.
-- Run against a migrated database:
--     psql -X -v ON_ERROR_STOP=1 -d DB -f tests/sql/due_checks.sql
-- Everything happens in one transaction that is rolled back at the end, including the test
-- handlers below (due_process finds handlers by name, so they cannot live in pg_temp).
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = error;

-- Only this transaction's rows: nothing else may be due at the instants used here.
DELETE FROM due_events;

CREATE TABLE due_check_log (kind text, refs bigint[], seq bigint GENERATED ALWAYS AS IDENTITY);

-- zz: its batch handler fails whenever ref 13 is in the batch; the row handler fails on 13.
CREATE FUNCTION due_zz_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO due_check_log (kind, refs) VALUES ('zz_batch', p_refs);
    IF 13 = ANY (p_refs) THEN
        RAISE EXCEPTION 'bad row 13';
    END IF;
END $$;
CREATE FUNCTION due_zz(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_ref = 13 THEN
        RAISE EXCEPTION 'bad row 13 alone';
    END IF;
    INSERT INTO due_check_log (kind, refs) VALUES ('zz', ARRAY[p_ref]);
END $$;
-- yy: a batch handler that always works; its row handler must never be used.
CREATE FUNCTION due_yy_batch(p_refs bigint[], p_now timestamptz) RETURNS void
LANGUAGE sql AS $$ INSERT INTO due_check_log (kind, refs) VALUES ('yy_batch', p_refs) $$;
CREATE FUNCTION due_yy(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'due_yy must not be called'; END $$;
-- xx: only a row handler.
CREATE FUNCTION due_xx(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE sql AS $$ INSERT INTO due_check_log (kind, refs) VALUES ('xx', ARRAY[p_ref]) $$;
-- ww: only a row handler, which fails on 32 after writing (the rows before it in the same
-- statement must be rolled back with it, and decided again alone).
CREATE FUNCTION due_ww(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO due_check_log (kind, refs) VALUES ('ww', ARRAY[p_ref]);
    IF p_ref = 32 THEN
        RAISE EXCEPTION 'bad ww row 32';
    END IF;
END $$;

DO $$
DECLARE
    t timestamptz := '2026-11-20T12:00:00Z';
    res record;
    got bigint[];
    left_row due_events;
BEGIN
    -- yy rows first in due order, then zz, then xx; one yy row is not due yet.
    INSERT INTO due_events (kind, ref, due_at)
    SELECT 'yy', n, t - interval '3 minutes' + n * interval '1 second' FROM generate_series(1, 5) n;
    INSERT INTO due_events (kind, ref, due_at) VALUES ('yy', 6, t + interval '1 second');
    INSERT INTO due_events (kind, ref, due_at)
    SELECT 'zz', n, t - interval '2 minutes' + n * interval '1 second' FROM generate_series(10, 15) n;
    INSERT INTO due_events (kind, ref, due_at)
    SELECT 'xx', n, t - interval '1 minute' + n * interval '1 second' FROM generate_series(20, 21) n;
    INSERT INTO due_events (kind, ref, due_at)
    SELECT 'ww', n, t - interval '30 seconds' + n * interval '0.1 second'
      FROM generate_series(30, 34) n;

    SELECT * INTO res FROM due_process(t, 100);
    IF res.processed <> 18 THEN
        RAISE EXCEPTION 'due_process decided % rows, want 18 (5 yy, 6 zz, 2 xx, 5 ww)',
            res.processed;
    END IF;
    IF res.next_due IS DISTINCT FROM t + interval '1 second' THEN
        RAISE EXCEPTION 'next_due %, want the yy row not yet due', res.next_due;
    END IF;

    -- yy: one batch call with every ref, in due order, and no row handler.
    SELECT array_agg(refs ORDER BY seq) INTO got FROM (
        SELECT unnest(refs) AS refs, seq FROM due_check_log WHERE kind = 'yy_batch') x;
    IF got IS DISTINCT FROM ARRAY[1, 2, 3, 4, 5]::bigint[]
       OR (SELECT count(*) FROM due_check_log WHERE kind = 'yy_batch') <> 1 THEN
        RAISE EXCEPTION 'yy batch calls: %', (SELECT array_agg(refs) FROM due_check_log
                                              WHERE kind = 'yy_batch');
    END IF;

    -- zz: the failed batch left nothing (its savepoint rolled back), every other row was then
    -- decided alone, and row 13 is back, postponed one minute, with its error.
    IF EXISTS (SELECT 1 FROM due_check_log WHERE kind = 'zz_batch') THEN
        RAISE EXCEPTION 'the failed zz batch was not rolled back';
    END IF;
    SELECT array_agg(refs[1] ORDER BY seq) INTO got FROM due_check_log WHERE kind = 'zz';
    IF got IS DISTINCT FROM ARRAY[10, 11, 12, 14, 15]::bigint[] THEN
        RAISE EXCEPTION 'zz rows decided one by one: %, want {10,11,12,14,15}', got;
    END IF;
    SELECT * INTO left_row FROM due_events WHERE kind = 'zz';
    IF left_row.ref IS DISTINCT FROM 13 OR left_row.attempts <> 1
       OR left_row.due_at <> t + interval '1 minute'
       OR left_row.last_error NOT LIKE '%bad row 13 alone%' THEN
        RAISE EXCEPTION 'postponed zz row: %', left_row;
    END IF;

    -- xx: no batch handler, decided row by row.
    SELECT array_agg(refs[1] ORDER BY seq) INTO got FROM due_check_log WHERE kind = 'xx';
    IF got IS DISTINCT FROM ARRAY[20, 21]::bigint[] THEN
        RAISE EXCEPTION 'xx rows: %', got;
    END IF;

    -- ww: its rows were first run together in one statement and one savepoint; 32 failed, so that
    -- statement left nothing, the others were decided alone in due order and 32 is postponed.
    SELECT array_agg(refs[1] ORDER BY seq) INTO got FROM due_check_log WHERE kind = 'ww';
    IF got IS DISTINCT FROM ARRAY[30, 31, 33, 34]::bigint[] THEN
        RAISE EXCEPTION 'ww rows: %, want {30,31,33,34}', got;
    END IF;
    SELECT * INTO left_row FROM due_events WHERE kind = 'ww';
    IF left_row.ref IS DISTINCT FROM 32 OR left_row.attempts <> 1
       OR left_row.last_error NOT LIKE '%bad ww row 32%' THEN
        RAISE EXCEPTION 'postponed ww row: %', left_row;
    END IF;
    DELETE FROM due_events WHERE kind = 'ww';

    -- Decided rows are gone: a second run at the same instant decides nothing.
    SELECT * INTO res FROM due_process(t, 100);
    IF res.processed <> 0 THEN
        RAISE EXCEPTION 'second run decided % rows, want 0', res.processed;
    END IF;

    -- The postponed row fails again when due, with a longer backoff (2 minutes after 1 attempt);
    -- yy 6 has fallen due meanwhile.
    SELECT * INTO res FROM due_process(t + interval '1 minute', 100);
    SELECT * INTO left_row FROM due_events WHERE kind = 'zz';
    IF res.processed <> 2 OR left_row.attempts <> 2  -- the zz row and yy 6
       OR left_row.due_at <> t + interval '3 minutes' THEN
        RAISE EXCEPTION 'second failure: processed %, row %', res.processed, left_row;
    END IF;
END $$;

-- outbox_enqueue_many refuses a bad item for the whole call and writes nothing.
DO $$
DECLARE
    before bigint := (SELECT count(*) FROM outbox);
BEGIN
    INSERT INTO centres (id, name, operator, capacity, created_at)
    VALUES ('due-check', 'Due check', 'Check', 10, '2026-11-20T11:00:00Z');
    BEGIN
        PERFORM outbox_enqueue_many(ARRAY[
            ROW('due-check', 'check.one', '{"a": 1}', ARRAY['police'], '2026-11-20T12:00:00Z',
                NULL, NULL)::outbox_item,
            ROW('due-check', 'check.two', '{"a": 2}', ARRAY['fire_brigade'],
                '2026-11-20T12:00:00Z', NULL, NULL)::outbox_item], '2026-11-20T12:00:00Z');
        RAISE EXCEPTION 'a bad authority kind was accepted';
    EXCEPTION WHEN raise_exception THEN
        IF SQLERRM NOT LIKE 'outbox_enqueue: bad authority kinds%' THEN
            RAISE;
        END IF;
    END;
    IF (SELECT count(*) FROM outbox) <> before THEN
        RAISE EXCEPTION 'a refused batch wrote outbox rows';
    END IF;

    -- Two good items: each its outbox row, its deliveries and one failing check.
    PERFORM outbox_enqueue_many(ARRAY[
        ROW('due-check', 'check.one', '{"a": 1, "event_id": "x"}', ARRAY['police', 'police'],
            '2026-11-20T12:00:00Z', NULL, NULL)::outbox_item,
        ROW('due-check', 'check.two', '{"a": 2}', ARRAY['municipality', 'immigration'],
            '2026-11-20T12:00:00Z', NULL, NULL)::outbox_item], '2026-11-20T12:00:00Z');
    IF (SELECT count(*) FROM outbox WHERE centre = 'due-check') <> 2
       OR (SELECT count(*) FROM deliveries WHERE centre = 'due-check') <> 3
       OR (SELECT count(*) FROM due_events e JOIN outbox o ON o.id = e.ref
            WHERE e.kind = 'outbox_check' AND o.centre = 'due-check'
              AND e.due_at = '2026-11-20T12:15:00Z') <> 2 THEN
        RAISE EXCEPTION 'enqueue of two: outbox %, deliveries %',
            (SELECT count(*) FROM outbox WHERE centre = 'due-check'),
            (SELECT count(*) FROM deliveries WHERE centre = 'due-check');
    END IF;
    IF (SELECT payload FROM outbox WHERE centre = 'due-check' AND type = 'check.one')
       <> '{"a": 1, "type": "check.one", "centre": {"id": "due-check", "name": "Due check", "operator": "Check"}}'::jsonb THEN
        RAISE EXCEPTION 'payload: %', (SELECT payload FROM outbox WHERE type = 'check.one');
    END IF;
END $$;

ROLLBACK;
\echo 'due_checks: all passed'
