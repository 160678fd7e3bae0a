-- Checks of the foundation API in SQL (schema/002_api.sql, 003_residents.sql, 004_rounds.sql),
-- calling api() directly as the daemon does. Any failed expectation raises an exception.
-- Run against a migrated database:
--     psql -X -v ON_ERROR_STOP=1 -d DB -f tests/sql/foundation_checks.sql
-- Everything happens in one transaction that is rolled back at the end: the database is left
-- as it was (sequences aside), so the script can run against any test database, repeatedly.
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = notice;

-- round_post hands every observation to absence_observe() (schema/006). Where that migration
-- is not applied yet, a do-nothing stand-in lets these checks run; it is rolled back with the
-- rest and never exists outside this transaction.
DO $$
BEGIN
    IF to_regprocedure('absence_observe(jsonb,bigint,text,timestamptz,timestamptz)') IS NULL THEN
        EXECUTE 'CREATE FUNCTION absence_observe(ctx jsonb, p_resident bigint, p_status text, '
                'p_round_at timestamptz, p_observed_at timestamptz) RETURNS void '
                'LANGUAGE sql AS ''SELECT NULL::void''';
        RAISE NOTICE 'foundation_checks: absence_observe() stand-in in use (006 not applied)';
    END IF;
END $$;

-- One API call as the daemon makes it.
CREATE FUNCTION pg_temp.call(op text, cn text, roles text[], path jsonb DEFAULT '{}',
                             query jsonb DEFAULT '{}', body jsonb DEFAULT NULL,
                             at timestamptz DEFAULT '2026-11-20T12:00:00Z',
                             idem_key text DEFAULT NULL, req_hash text DEFAULT NULL)
RETURNS TABLE(status int, body jsonb)
LANGUAGE sql AS $$
    SELECT a.status, a.body::jsonb
    FROM api($1, $2, jsonb_build_object('path', $4, 'query', $5, 'body', $6), $7, $8, $9,
             '127.0.0.1', 'fc-' || $1, $3) AS a
$$;

-- Fails unless the reply has the wanted status (and error code and field, when given).
CREATE FUNCTION pg_temp.expect(label text, got_status int, got_body jsonb, want_status int,
                               want_code text DEFAULT NULL, want_field text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF got_status IS DISTINCT FROM want_status
       OR (want_code IS NOT NULL AND got_body->'error'->>'code' IS DISTINCT FROM want_code)
       OR (want_field IS NOT NULL AND got_body->'error'->>'field' IS DISTINCT FROM want_field)
    THEN
        RAISE EXCEPTION 'FAILED %: wanted % % %, got % %', label, want_status,
            coalesce(want_code, ''), coalesce(want_field, ''), got_status, got_body;
    END IF;
    RETURN got_body;
END $$;

CREATE FUNCTION pg_temp.check(condition boolean, label text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF condition IS NOT TRUE THEN
        RAISE EXCEPTION 'FAILED %', label;
    END IF;
END $$;

CREATE FUNCTION pg_temp.resident(case_number text) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT r.id FROM residents r WHERE r.case_number = $1 $$;

-- ---------------------------------------------------------------------------------------------
-- Set-up: an admin, three centres, accounts
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    r record;
    admin text[] := '{admin}';
BEGIN
    PERFORM bootstrap_admin('fc-admin', '2026-11-20T11:00:00Z');
    PERFORM bootstrap_admin('fc-admin', '2026-11-20T11:30:00Z');
    PERFORM pg_temp.check((SELECT count(*) = 1 AND min(role) = 'admin'
                           FROM accounts WHERE cn = 'fc-admin'), 'bootstrap_admin once');

    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"id":"fc-a","name":"Tønder","capacity":76,"authorities":[{"kind":"police",
                  "url":"https://politi.example/hook","secret":"whsec_c2VjcmV0LXNlY3JldA=="}]}');
    PERFORM pg_temp.expect('centre_create fc-a', r.status, r.body, 201);
    PERFORM pg_temp.check(r.body->'check_times' = '["07:00","15:00","23:00"]'
                          AND r.body->>'timezone' = 'Europe/Copenhagen'
                          AND (r.body->>'grace_minutes')::int = 60, 'centre defaults');
    PERFORM pg_temp.check(position('whsec_' IN r.body::text) = 0, 'secret not in create reply');
    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"id":"fc-b","name":"Sandholm","capacity":78}');
    PERFORM pg_temp.expect('centre_create fc-b', r.status, r.body, 201);
    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"id":"fc-dst","name":"Night checks","check_times":["02:30","15:00","23:00"]}');
    PERFORM pg_temp.expect('centre_create fc-dst', r.status, r.body, 201);

    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"id":"fc-a","name":"Again"}');
    PERFORM pg_temp.expect('duplicate centre id', r.status, r.body, 409, 'conflict', 'id');
    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"name":"Bad zone","timezone":"Europe/Atlantis"}');
    PERFORM pg_temp.expect('unknown time zone', r.status, r.body, 400, 'bad_field', 'timezone');
    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"name":"Bad secret","authorities":[{"kind":"police","url":"https://p.example/",
                  "secret":"hunter2"}]}');
    PERFORM pg_temp.expect('secret in another form', r.status, r.body, 400, 'bad_field',
                           'authorities[0].secret');
    SELECT * INTO r FROM pg_temp.call('centre_create', 'fc-admin', admin,
        body => '{"name":"Bad times","check_times":["07:00","07:00","23:00"]}');
    PERFORM pg_temp.expect('check times not increasing', r.status, r.body, 400, 'bad_field',
                           'check_times');

    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-staff-a","role":"staff","centres":["fc-a"]}');
    PERFORM pg_temp.expect('account staff-a', r.status, r.body, 201);
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-staff-b","role":"staff","centres":["fc-b"]}');
    PERFORM pg_temp.expect('account staff-b', r.status, r.body, 201);
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-mgr-a","role":"manager","centres":["fc-a"]}');
    PERFORM pg_temp.expect('account mgr-a', r.status, r.body, 201);
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-off","role":"staff","centres":["fc-a"],"disabled":true}');
    PERFORM pg_temp.expect('account off', r.status, r.body, 201);
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-staff-a","role":"staff","centres":[]}');
    PERFORM pg_temp.expect('duplicate account', r.status, r.body, 409, 'conflict', 'cn');
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-police","role":"authority","centres":["fc-a"]}');
    PERFORM pg_temp.expect('authority without authority', r.status, r.body, 400, 'bad_field',
                           'authority');
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-admin', admin,
        body => '{"cn":"fc-nowhere","role":"staff","centres":["fc-none"]}');
    PERFORM pg_temp.expect('account at unknown centre', r.status, r.body, 422, 'unknown_centre',
                           'centres[0]');
    SELECT * INTO r FROM pg_temp.call('account_patch', 'fc-admin', admin,
        path => '{"cn":"fc-admin"}', body => '{"disabled":true}');
    IF NOT EXISTS (SELECT 1 FROM accounts WHERE role = 'admin' AND NOT disabled
                   AND cn <> 'fc-admin') THEN
        PERFORM pg_temp.expect('last admin cannot be disabled', r.status, r.body, 409,
                               'last_admin');
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Access: unknown, disabled, wrong role, other centre
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    r record;
    audit_before bigint := (SELECT coalesce(max(id), 0) FROM audit);
BEGIN
    SELECT * INTO r FROM pg_temp.call('centre_list', 'fc-nobody', '{staff,oncall,manager,admin}');
    PERFORM pg_temp.expect('unknown account', r.status, r.body, 403, 'forbidden');
    PERFORM pg_temp.check(r.body->'error' ? 'field' AND r.body->'error'->'field' = 'null',
                          'error field present and null');
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-nobody', '{admin}',
        body => '{"cn":"fc-made","role":"admin"}');
    PERFORM pg_temp.expect('unknown account mutation', r.status, r.body, 403, 'forbidden');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM audit WHERE id > audit_before
                                  AND cn = 'fc-nobody' AND outcome = 'refused:forbidden'),
                          'refused mutation audited');
    SELECT * INTO r FROM pg_temp.call('centre_get', 'fc-off', '{staff,oncall,manager,admin}',
        path => '{"id":"fc-a"}');
    PERFORM pg_temp.expect('disabled account', r.status, r.body, 403, 'forbidden');
    SELECT * INTO r FROM pg_temp.call('account_create', 'fc-staff-a', '{admin}',
        body => '{"cn":"fc-made","role":"admin"}');
    PERFORM pg_temp.expect('wrong role', r.status, r.body, 403, 'forbidden');
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM accounts WHERE cn = 'fc-made'),
                          'no account made by refused requests');

    SELECT * INTO r FROM pg_temp.call('centre_get', 'fc-staff-b', '{staff,oncall,manager,admin}',
        path => '{"id":"fc-a"}');
    PERFORM pg_temp.expect('staff of another centre', r.status, r.body, 403, 'forbidden');
    SELECT * INTO r FROM pg_temp.call('centre_get', 'fc-staff-b', '{staff,oncall,manager,admin}',
        path => '{"id":"fc-none"}');
    PERFORM pg_temp.expect('unknown centre', r.status, r.body, 404, 'not_found');
    SELECT * INTO r FROM pg_temp.call('centre_list', 'fc-staff-b', '{staff,oncall,manager,admin}');
    PERFORM pg_temp.expect('centre_list', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body->'items' @> '[{"id":"fc-b"}]'
                          AND NOT r.body->'items' @> '[{"id":"fc-a"}]'
                          AND jsonb_array_length(r.body->'items') = 1,
                          'staff list only their own centres');
    SELECT * INTO r FROM pg_temp.call('round_list', 'fc-staff-b', '{staff,oncall,manager,admin}',
        path => '{"id":"fc-a"}', query => '{"date":"2026-11-20"}');
    PERFORM pg_temp.expect('rounds of another centre', r.status, r.body, 403, 'forbidden');
END $$;

-- ---------------------------------------------------------------------------------------------
-- Residents: creation, unique case numbers, scope, idempotency, date-of-birth history
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    r record;
    first record;
    mgr text[] := '{manager,admin}';
    staff_plus text[] := '{staff,oncall,manager,admin}';
    body jsonb := '{"case_number":"FC-1","given_name":"Ahmad","family_name":"Rahimi",
                    "date_of_birth":"2012-03-10","centre":"fc-a","arrival_date":"2026-11-01"}';
    id1 bigint;
    count_before bigint;
    audit_before bigint;
BEGIN
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr, body => body);
    PERFORM pg_temp.expect('resident_create', r.status, r.body, 201);
    id1 := (r.body->>'id')::bigint;
    PERFORM pg_temp.check(r.body @> '{"case_number":"FC-1","centre":"fc-a","phase":1,"age":14,
                                      "arrival_date":"2026-11-01","departure_date":null}',
                          'resident fields');
    PERFORM pg_temp.check((SELECT count(*) FROM stays WHERE resident = id1) = 1
                          AND (SELECT count(*) FROM phases WHERE resident = id1) = 1,
                          'first stay and phase');

    count_before := (SELECT count(*) FROM residents);
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"given_name":"Other"}');
    PERFORM pg_temp.expect('duplicate case number', r.status, r.body, 409, 'conflict',
                           'case_number');
    PERFORM pg_temp.check((SELECT count(*) FROM residents) = count_before,
                          'no resident from a 409');
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"case_number":"FC-X","centre":"fc-b"}');
    PERFORM pg_temp.expect('manager of another centre', r.status, r.body, 403, 'forbidden');
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"case_number":"FC-X","departure_date":"2026-10-01"}');
    PERFORM pg_temp.expect('departure before arrival', r.status, r.body, 400, 'bad_field',
                           'departure_date');
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"case_number":"FC-X","centre":"fc-none"}');
    PERFORM pg_temp.expect('unknown centre', r.status, r.body, 422, 'unknown_centre', 'centre');

    -- Idempotency: the same key and request replays the first answer; another request under
    -- the key is 422 and changes nothing.
    SELECT * INTO first FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"case_number":"FC-2","given_name":"Nour"}',
        idem_key => 'fc-key-1', req_hash => 'hash-1');
    PERFORM pg_temp.expect('keyed create', first.status, first.body, 201);
    audit_before := (SELECT max(id) FROM audit);
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"case_number":"FC-2","given_name":"Nour"}',
        at => '2026-11-20T12:05:00Z', idem_key => 'fc-key-1', req_hash => 'hash-1');
    PERFORM pg_temp.check(r.status = first.status AND r.body = first.body,
                          'replay gives the first answer');
    PERFORM pg_temp.check((SELECT count(*) FROM residents WHERE case_number = 'FC-2') = 1,
                          'replay made no second resident');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM audit WHERE id > audit_before
                                  AND outcome = 'replayed'), 'replay audited');
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr,
        body => body || '{"case_number":"FC-3"}', idem_key => 'fc-key-1', req_hash => 'hash-2');
    PERFORM pg_temp.expect('idempotency mismatch', r.status, r.body, 422, 'idempotency_mismatch');
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM residents WHERE case_number = 'FC-3'),
                          'mismatch changed nothing');
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-staff-a', mgr,
        body => body || '{"case_number":"FC-3"}', idem_key => 'fc-key-1', req_hash => 'hash-2');
    PERFORM pg_temp.expect('keys belong to their account (role refused first)', r.status, r.body,
                           403, 'forbidden');
    -- A refusal is stored and replayed too.
    SELECT * INTO first FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr, body => body,
        idem_key => 'fc-key-2', req_hash => 'hash-3');
    PERFORM pg_temp.expect('keyed 409', first.status, first.body, 409);
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-mgr-a', mgr, body => body,
        idem_key => 'fc-key-2', req_hash => 'hash-3');
    PERFORM pg_temp.check(r.status = 409 AND r.body = first.body, 'refusal replayed');

    -- Reading: staff of the centre, not of another one.
    SELECT * INTO r FROM pg_temp.call('resident_get', 'fc-staff-a', staff_plus,
        path => jsonb_build_object('id', id1));
    PERFORM pg_temp.expect('resident_get', r.status, r.body, 200);
    SELECT * INTO r FROM pg_temp.call('resident_get', 'fc-staff-b', staff_plus,
        path => jsonb_build_object('id', id1));
    PERFORM pg_temp.expect('resident of another centre', r.status, r.body, 403, 'forbidden');
    PERFORM pg_temp.check((SELECT outcome = 'refused:forbidden' AND resident = id1
                           FROM audit WHERE cn = 'fc-staff-b' ORDER BY id DESC LIMIT 1),
                          'refused read audited with the resident');
    SELECT * INTO r FROM pg_temp.call('resident_get', 'fc-staff-a', staff_plus,
        path => '{"id":999999999999}');
    PERFORM pg_temp.expect('unknown resident', r.status, r.body, 404, 'not_found');

    -- Date of birth: a change needs a reason and is kept in the history.
    SELECT * INTO r FROM pg_temp.call('resident_patch', 'fc-mgr-a', mgr,
        path => jsonb_build_object('id', id1), body => '{"date_of_birth":"2011-11-20"}');
    PERFORM pg_temp.expect('dob without reason', r.status, r.body, 400, NULL, 'reason');
    PERFORM pg_temp.check((SELECT date_of_birth = '2012-03-10' FROM residents WHERE id = id1)
                          AND NOT EXISTS (SELECT 1 FROM resident_dob_history WHERE resident = id1),
                          'refused dob change changed nothing');
    SELECT * INTO r FROM pg_temp.call('resident_patch', 'fc-mgr-a', mgr,
        path => jsonb_build_object('id', id1),
        body => '{"date_of_birth":"2011-11-20","reason":"age assessment 41-2026"}');
    PERFORM pg_temp.expect('dob with reason', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body->>'date_of_birth' = '2011-11-20' AND (r.body->>'age')::int = 15,
                          'dob changed, age recomputed');
    PERFORM pg_temp.check(r.body->'date_of_birth_history' @> '[{"old":"2012-03-10",
        "new":"2011-11-20","reason":"age assessment 41-2026","changed_by":"fc-mgr-a"}]'
                          AND jsonb_array_length(r.body->'date_of_birth_history') = 1,
                          'dob history in the reply');
    PERFORM pg_temp.check((SELECT count(*) FROM resident_dob_history WHERE resident = id1) = 1,
                          'one dob history row');

    SELECT * INTO r FROM pg_temp.call('resident_phase_add', 'fc-mgr-a', mgr,
        path => jsonb_build_object('id', id1), body => '{"phase":2,"from":"2026-12-01"}');
    PERFORM pg_temp.expect('phase add', r.status, r.body, 201);
    SELECT * INTO r FROM pg_temp.call('resident_get', 'fc-mgr-a', mgr,
        path => jsonb_build_object('id', id1), at => '2026-11-30T22:59:00Z');
    PERFORM pg_temp.check((r.body->>'phase')::int = 1, 'phase 1 on 30 November (local)');
    SELECT * INTO r FROM pg_temp.call('resident_get', 'fc-mgr-a', mgr,
        path => jsonb_build_object('id', id1), at => '2026-11-30T23:00:00Z');
    PERFORM pg_temp.check((r.body->>'phase')::int = 2, 'phase 2 from 1 December (local)');
END $$;

-- ---------------------------------------------------------------------------------------------
-- Rounds: all or nothing, validation, corrections with history
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    r record;
    staff_plus text[] := '{staff,oncall,manager,admin}';
    id1 bigint := pg_temp.resident('FC-1');
    id2 bigint := pg_temp.resident('FC-2');
    idb bigint;
    path jsonb := '{"id":"fc-a","date":"2026-11-20","slot":2}';
    at timestamptz := '2026-11-20T14:10:00Z';
    obs_before bigint;
BEGIN
    SELECT * INTO r FROM pg_temp.call('resident_create', 'fc-admin', '{manager,admin}',
        body => '{"case_number":"FC-B","given_name":"Hevin","family_name":"Ali",
                  "date_of_birth":"2013-01-01","centre":"fc-b","arrival_date":"2026-11-01"}');
    PERFORM pg_temp.expect('resident at fc-b', r.status, r.body, 201);
    idb := (r.body->>'id')::bigint;
    obs_before := (SELECT count(*) FROM observations);

    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present'),
            jsonb_build_object('resident', 999999999999, 'status', 'absent'))));
    PERFORM pg_temp.expect('unknown resident in a round', r.status, r.body, 422,
                           'unknown_resident', 'observations[1].resident');
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present'),
            jsonb_build_object('resident', idb, 'status', 'present'))));
    PERFORM pg_temp.expect('resident of another centre in a round', r.status, r.body, 422,
                           'not_expected', 'observations[1].resident');
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present'),
            jsonb_build_object('resident', id1, 'status', 'absent'))));
    PERFORM pg_temp.expect('same resident twice', r.status, r.body, 400, NULL,
                           'observations[1].resident');
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'excused'))));
    PERFORM pg_temp.expect('excused without reason', r.status, r.body, 400, NULL,
                           'observations[0].reason');
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present', 'reason', 'leave'))));
    PERFORM pg_temp.expect('present with a reason', r.status, r.body, 400, 'bad_field',
                           'observations[0].reason');
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus,
        path => '{"id":"fc-a","date":"2026-11-20","slot":3}', at => '2026-11-20T19:59:00Z',
        body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present'))));
    PERFORM pg_temp.expect('round more than two hours ahead', r.status, r.body, 409,
                           'round_not_started');
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-b', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present'))));
    PERFORM pg_temp.expect('round of another centre', r.status, r.body, 403, 'forbidden');
    PERFORM pg_temp.check((SELECT count(*) FROM observations) = obs_before,
                          'refused rounds stored nothing');

    SELECT * INTO r FROM pg_temp.call('round_list', 'fc-staff-a', staff_plus,
        path => '{"id":"fc-a"}', query => '{"date":"2026-11-20"}', at => at);
    PERFORM pg_temp.expect('round_list', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body->'items'->1 @> '{"slot":2,"status":"open","expected":2,
        "recorded":0,"scheduled_at":"2026-11-20T14:00:00+00:00",
        "due_at":"2026-11-20T15:00:00+00:00"}'
                          AND r.body->'items'->0 @> '{"slot":1,"status":"overdue"}'
                          AND r.body->'next' = 'null', 'round list before recording');

    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => at, body => jsonb_build_object('observations', jsonb_build_array(
            jsonb_build_object('resident', id1, 'status', 'present', 'note', 'in the garden'),
            jsonb_build_object('resident', id2, 'status', 'excused', 'reason', 'hospital'))));
    PERFORM pg_temp.expect('whole round', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body @> '{"status":"complete","expected":2,"recorded":2}',
                          'round complete');
    PERFORM pg_temp.check((SELECT count(*) FROM observations o WHERE o.centre = 'fc-a'
                           AND o.date = '2026-11-20' AND o.slot = 2 AND o.current
                           AND o.round_at = '2026-11-20T14:00:00Z'
                           AND o.recorded_at = '2026-11-20T14:10:00Z'
                           AND o.recorded_by = 'fc-staff-a') = 2,
                          'observations stored with round and record instants');

    -- A correction: the old row stays, no longer current.
    SELECT * INTO r FROM pg_temp.call('round_post', 'fc-staff-a', staff_plus, path => path,
        at => '2026-11-20T14:20:00Z', body => jsonb_build_object('observations',
            jsonb_build_array(jsonb_build_object('resident', id1, 'status', 'absent'))));
    PERFORM pg_temp.expect('correction', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body @> '{"recorded":2}', 'a correction does not count twice');
    PERFORM pg_temp.check(ARRAY(SELECT o.status || ':' || o.current FROM observations o
                                WHERE o.centre = 'fc-a' AND o.date = '2026-11-20' AND o.slot = 2
                                  AND o.resident = id1 ORDER BY o.id)
                          = '{present:false,absent:true}', 'correction history rows');
    SELECT * INTO r FROM pg_temp.call('round_get', 'fc-staff-a', staff_plus, path => path,
        query => '{"history":true}', at => '2026-11-20T14:30:00Z');
    PERFORM pg_temp.expect('round_get with history', r.status, r.body, 200);
    PERFORM pg_temp.check((SELECT jsonb_array_length(e->'history') = 2
                                  AND e->'observation'->>'status' = 'absent'
                                  AND e->'history'->0->>'status' = 'present'
                                  AND e->'history'->0->>'note' = 'in the garden'
                           FROM jsonb_array_elements(r.body->'residents') AS e
                           WHERE (e->>'resident')::bigint = id1), 'history oldest first');
    SELECT * INTO r FROM pg_temp.call('round_get', 'fc-staff-a', staff_plus, path => path,
        at => '2026-11-20T14:30:00Z');
    PERFORM pg_temp.check(NOT r.body::text LIKE '%"history"%', 'no history unless asked');
END $$;

-- ---------------------------------------------------------------------------------------------
-- Daylight-saving days (docs/decisions.md): the default check times keep their local times on
-- the 23- and 25-hour days; a check time in the skipped hour is read with the offset before
-- the change (02:30 -> 03:30 CEST), one in the repeated hour is its first occurrence.
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    r record;
BEGIN
    PERFORM pg_temp.check(ARRAY[round_scheduled_at('fc-a', '2026-03-29', 1),
                                round_scheduled_at('fc-a', '2026-03-29', 2),
                                round_scheduled_at('fc-a', '2026-03-29', 3)]
                          = '{2026-03-29T05:00Z,2026-03-29T13:00Z,2026-03-29T21:00Z}'
                            ::timestamptz[],
                          'rounds on 2026-03-29 (CEST after 02:00)');
    PERFORM pg_temp.check(ARRAY[round_scheduled_at('fc-a', '2026-10-25', 1),
                                round_scheduled_at('fc-a', '2026-10-25', 2),
                                round_scheduled_at('fc-a', '2026-10-25', 3)]
                          = '{2026-10-25T06:00Z,2026-10-25T14:00Z,2026-10-25T22:00Z}'
                            ::timestamptz[],
                          'rounds on 2026-10-25 (CET after 03:00)');
    PERFORM pg_temp.check(round_scheduled_at('fc-dst', '2026-03-29', 1) = '2026-03-29T01:30Z',
                          '02:30 in the skipped hour is 03:30 CEST');
    PERFORM pg_temp.check(round_scheduled_at('fc-dst', '2026-10-25', 1) = '2026-10-25T00:30Z',
                          '02:30 in the repeated hour is its first occurrence (CEST)');
    PERFORM pg_temp.check(round_scheduled_at('fc-dst', '2026-10-24', 1) = '2026-10-24T00:30Z'
                          AND round_scheduled_at('fc-dst', '2026-10-26', 1) = '2026-10-26T01:30Z',
                          'ordinary days around the change');
    PERFORM pg_temp.check(round_due_at('fc-a', '2026-03-29', 1) = '2026-03-29T06:00Z',
                          'due = scheduled + grace');
    SELECT * INTO r FROM pg_temp.call('round_list', 'fc-admin', '{admin}',
        path => '{"id":"fc-dst"}', query => '{"date":"2026-03-29"}');
    PERFORM pg_temp.check((r.body->'items'->0->>'scheduled_at')::timestamptz
                          < (r.body->'items'->1->>'scheduled_at')::timestamptz,
                          'slots in order on the DST day');
END $$;

-- ---------------------------------------------------------------------------------------------
-- Lists, moves, export, audit log, clock, idempotency sweep
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    r record;
    id1 bigint := pg_temp.resident('FC-1');
    id2 bigint := pg_temp.resident('FC-2');
    staff_plus text[] := '{staff,oncall,manager,admin}';
    audit_before bigint;
BEGIN
    audit_before := (SELECT max(id) FROM audit);
    SELECT * INTO r FROM pg_temp.call('centre_residents', 'fc-staff-a', staff_plus,
        path => '{"id":"fc-a"}', query => '{"on":"2026-11-20","limit":1}');
    PERFORM pg_temp.expect('centre_residents page 1', r.status, r.body, 200);
    PERFORM pg_temp.check(jsonb_array_length(r.body->'items') = 1
                          AND r.body->>'next' = id1::text, 'first page and cursor');
    PERFORM pg_temp.check((SELECT array_agg(resident ORDER BY resident) FROM audit
                           WHERE id > audit_before AND action = 'centre_residents')
                          = ARRAY[id1], 'a list audits the residents it shows');
    SELECT * INTO r FROM pg_temp.call('centre_residents', 'fc-staff-a', staff_plus,
        path => '{"id":"fc-a"}', query => jsonb_build_object('on', '2026-11-20', 'limit', 1,
                                                              'after', r.body->>'next'));
    PERFORM pg_temp.check(r.body->'items'->0->>'id' = id2::text AND r.body->'next' = 'null',
                          'last page');
    SELECT * INTO r FROM pg_temp.call('centre_residents', 'fc-staff-a', staff_plus,
        path => '{"id":"fc-a"}', query => '{"on":"2026-10-31"}');
    PERFORM pg_temp.check(jsonb_array_length(r.body->'items') = 0, 'nobody before arrival');
    SELECT * INTO r FROM pg_temp.call('centre_residents', 'fc-staff-a', staff_plus,
        path => '{"id":"fc-a"}', query => '{"limit":0}');
    PERFORM pg_temp.expect('limit out of range', r.status, r.body, 400, 'bad_field', 'limit');

    -- A move: the stay at fc-a ends on moved_on, one at fc-b begins.
    SELECT * INTO r FROM pg_temp.call('resident_patch', 'fc-mgr-a', '{manager,admin}',
        path => jsonb_build_object('id', id1),
        body => '{"centre":"fc-b","moved_on":"2026-11-25"}');
    PERFORM pg_temp.expect('move to a centre the manager does not have', r.status, r.body, 403);
    SELECT * INTO r FROM pg_temp.call('resident_patch', 'fc-admin', '{manager,admin}',
        path => jsonb_build_object('id', id1),
        body => '{"centre":"fc-b","moved_on":"2026-11-25"}');
    PERFORM pg_temp.expect('move', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body->'stays'
                          = '[{"centre":"fc-a","from":"2026-11-01","to":"2026-11-25"},
                              {"centre":"fc-b","from":"2026-11-25","to":null}]'
                          AND r.body->>'centre' = 'fc-a', 'stays after the move');
    PERFORM pg_temp.check(id1 IN (SELECT round_expected('fc-a', '2026-11-24'))
                          AND id1 NOT IN (SELECT round_expected('fc-a', '2026-11-25'))
                          AND id1 IN (SELECT round_expected('fc-b', '2026-11-25')),
                          'expected in rounds by stay');
    SELECT * INTO r FROM pg_temp.call('resident_patch', 'fc-admin', '{manager,admin}',
        path => jsonb_build_object('id', id2), body => '{"departure_date":"2026-10-01"}');
    PERFORM pg_temp.expect('departure before arrival', r.status, r.body, 400, NULL,
                           'departure_date');

    SELECT * INTO r FROM pg_temp.call('resident_export', 'fc-admin', '{admin}',
        path => jsonb_build_object('id', id1));
    PERFORM pg_temp.expect('export', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body ?& ARRAY['resident', 'date_of_birth_history', 'stays', 'phases',
                                          'observations', 'audit']
                          AND jsonb_array_length(r.body->'observations') = 2,
                          'export sections');

    SELECT * INTO r FROM pg_temp.call('audit_list', 'fc-admin', '{admin}',
        query => jsonb_build_object('resident', id1, 'limit', 1000));
    PERFORM pg_temp.expect('audit_list', r.status, r.body, 200);
    PERFORM pg_temp.check(r.body->'items' @> '[{"action":"resident_create","cn":"fc-mgr-a",
        "outcome":"ok","remote":"127.0.0.1","request_id":"fc-resident_create"}]'
                          AND r.body->'items' @> '[{"action":"resident_get","cn":"fc-staff-b",
        "outcome":"refused:forbidden"}]'
                          AND r.body->'items' @> '[{"action":"round_post","cn":"fc-staff-a"}]',
                          'audit rows for create, refused read, round');
    SELECT * INTO r FROM pg_temp.call('audit_list', 'fc-staff-a', '{admin}');
    PERFORM pg_temp.expect('audit is admin only', r.status, r.body, 403, 'forbidden');

    SELECT * INTO r FROM pg_temp.call('clock_set', 'fc-admin', '{admin}',
        body => '{"now":"2026-11-21T03:00:00+00:00"}');
    PERFORM pg_temp.expect('clock_set', r.status, r.body, 200);
    PERFORM pg_temp.check(clock_load() = '2026-11-21T03:00:00Z'
                          AND r.body->>'now' = '2026-11-21T03:00:00+00:00', 'clock stored');
    SELECT * INTO r FROM pg_temp.call('clock_get', 'fc-admin', '{admin}',
        at => '2026-11-21T03:00:00Z');
    PERFORM pg_temp.check(r.status = 200 AND r.body->>'now' = '2026-11-21T03:00:00+00:00',
                          'clock_get');

    PERFORM idempotency_sweep('2026-11-21T12:00:00Z');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM idempotency WHERE key LIKE 'fc-key-%'),
                          'keys of exactly 24 h are kept');
    PERFORM pg_temp.check(idempotency_sweep('2026-11-21T12:00:01Z') >= 2, 'old keys swept');
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM idempotency WHERE key LIKE 'fc-key-%'),
                          'keys older than 24 h gone');
END $$;

-- The audit log cannot be rewritten.
DO $$
DECLARE
    rows_before bigint := (SELECT count(*) FROM audit);
    refused int := 0;
BEGIN
    BEGIN
        UPDATE audit SET outcome = 'ok' WHERE outcome LIKE 'refused:%';
    EXCEPTION WHEN OTHERS THEN
        refused := refused + 1;
    END;
    BEGIN
        DELETE FROM audit WHERE cn LIKE 'fc-%';
    EXCEPTION WHEN OTHERS THEN
        refused := refused + 1;
    END;
    PERFORM pg_temp.check(refused = 2 AND (SELECT count(*) FROM audit) = rows_before
                          AND EXISTS (SELECT 1 FROM audit WHERE outcome LIKE 'refused:%'),
                          'UPDATE and DELETE on audit refused');
END $$;

DO $$ BEGIN RAISE NOTICE 'foundation_checks: all checks passed'; END $$;
ROLLBACK;
