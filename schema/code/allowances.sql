-- Cash allowances (SPEC sections 6, 9 and 10): settings, rates, the change log that lets a paid
-- period be reused, the facts query the daemon turns into money (daemon/allowance.c), sanctions,
-- agreements and payouts.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

CREATE FUNCTION allowance_anchor() RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.value::date FROM settings s WHERE s.key = 'allowance_anchor'),
                    date '2026-01-05')
$$;

CREATE FUNCTION allowance_correction_periods() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT greatest(0, coalesce((SELECT s.value::int FROM settings s
                                 WHERE s.key = 'allowance_correction_periods'), 4))
$$;

-- The period start named by a request: a date on the 14-day grid from the anchor, else 400
-- naming period_start (with the nearest period starts, so the caller can correct it).
CREATE FUNCTION allowance_period_arg(p_value text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
DECLARE
    anchor date := allowance_anchor();
    start date;
    before date;
BEGIN
    IF p_value IS NULL THEN
        PERFORM fail(400, 'missing_field', 'period_start is required', 'period_start');
    END IF;
    start := arg_date(p_value, 'period_start');
    IF start < anchor THEN
        PERFORM fail(400, 'bad_field',
                     format('period_start %s is before the first allowance period, which starts '
                            'on %s', start, anchor), 'period_start');
    END IF;
    IF (start - anchor) % 14 <> 0 THEN
        before := anchor + (start - anchor) / 14 * 14;
        PERFORM fail(400, 'bad_field',
                     format('period_start %s is not the start of an allowance period: periods '
                            'start on %s and every 14 days after (the nearest are %s and %s)',
                            start, anchor, before, before + 14), 'period_start');
    END IF;
    RETURN start;
END $$;

CREATE FUNCTION rate_json(p_r rates) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', ($1).id, 'kind', ($1).kind, 'per_day_ore', ($1).per_day_ore,
                              'valid_from', ($1).valid_from, 'valid_to', ($1).valid_to,
                              'created_at', ($1).created_at, 'created_by', ($1).created_by)
$$;

-- GET /v1/rates?kind=&on=&limit=&after= (manager, admin): by id, i.e. in the order they were
-- entered; `on` keeps the rates in force that day.
CREATE FUNCTION op_rate_list(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q jsonb := args->'query';
    kind_filter text := q->>'kind';
    on_date date := arg_date(q->>'on', 'on');
    lim int := page_limit(args);
    after_id bigint := page_after_id(args);
BEGIN
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(rate_json(r) ORDER BY r.id), '[]'), lim)
    FROM (SELECT * FROM rates r
          WHERE r.id > after_id
            AND (kind_filter IS NULL OR r.kind = kind_filter)
            AND (on_date IS NULL OR (r.valid_from <= on_date
                                     AND (r.valid_to IS NULL OR on_date <= r.valid_to)))
          ORDER BY r.id LIMIT lim + 1) AS r;
END $$;

-- POST /v1/rates {"kind","per_day_ore","valid_from","valid_to"} (manager, admin). A rate
-- without an end that starts after the start of the kind's rate without an end supersedes it:
-- that one then ends the day before (this is how a rate changes; the API has no other way to
-- end a rate). Any other overlap with a rate of the same kind is refused with 409.
CREATE FUNCTION op_rate_create(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    new_kind text := arg_required(b, 'kind');
    new_per_day int := arg_int(arg_required(b, 'per_day_ore'), 'per_day_ore', 0, 100000000);
    new_from date := arg_date(arg_required(b, 'valid_from'), 'valid_from');
    new_to date := arg_date(b->>'valid_to', 'valid_to');
    superseded rates;
    created rates;
    clash rates;
BEGIN
    IF new_kind NOT IN ('base', 'supplement_phase1', 'supplement_phase2') THEN
        PERFORM fail(400, 'bad_field',
                     'kind must be base, supplement_phase1 or supplement_phase2', 'kind');
    END IF;
    IF new_to < new_from THEN
        PERFORM fail(400, 'bad_field', 'valid_to must not be before valid_from', 'valid_to');
    END IF;
    IF new_to IS NULL THEN
        UPDATE rates r SET valid_to = new_from - 1
        WHERE r.kind = new_kind AND r.valid_to IS NULL AND r.valid_from < new_from
        RETURNING * INTO superseded;
    END IF;
    BEGIN
        INSERT INTO rates (kind, per_day_ore, valid_from, valid_to, created_at, created_by)
        VALUES (new_kind, new_per_day, new_from, new_to, ctx_now(ctx), ctx->>'cn')
        RETURNING * INTO created;
    EXCEPTION WHEN exclusion_violation THEN
        SELECT * INTO clash FROM rates r
        WHERE r.kind = new_kind
          AND daterange(r.valid_from, r.valid_to, '[]') && daterange(new_from, new_to, '[]')
        ORDER BY r.valid_from LIMIT 1;
        PERFORM fail(409, 'rate_overlap',
                     format('a %s rate is already valid from %s to %s; validity periods of one '
                            'kind must not overlap', new_kind, clash.valid_from,
                            coalesce(clash.valid_to::text, 'further notice')),
                     'valid_from', jsonb_build_object('rate', rate_json(clash)));
    END;
    PERFORM audit(ctx, 'rate_create', NULL,
                  jsonb_build_object('rate', created.id, 'superseded', superseded.id));
    RETURN QUERY SELECT 201, rate_json(created)
        || jsonb_build_object('superseded', CASE WHEN superseded.id IS NULL THEN NULL
                                                 ELSE rate_json(superseded) END);
END $$;

CREATE FUNCTION allowance_reuse_paid() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.value FROM settings s WHERE s.key = 'allowance_reuse_paid'), 'on')
           <> 'off'
$$;

CREATE FUNCTION allowance_input_changed(p_resident bigint, p_from date) RETURNS void
LANGUAGE sql AS $$
    WITH v AS (
        INSERT INTO allowance_input_versions AS x (resident, version) VALUES (p_resident, 1)
        ON CONFLICT (resident) DO UPDATE SET version = x.version + 1
        RETURNING x.resident, x.version
    )
    INSERT INTO allowance_input_changes (resident, version, affects_from)
    SELECT v.resident, v.version, coalesce(p_from, '-infinity') FROM v
$$;

CREATE FUNCTION allowance_rules_changed(p_from date) RETURNS void
LANGUAGE sql AS $$
    WITH v AS (
        UPDATE allowance_rules_version SET version = version + 1 RETURNING version
    )
    INSERT INTO allowance_rule_changes (version, affects_from)
    SELECT v.version, coalesce(p_from, '-infinity') FROM v
$$;

-- The first local day an absence's coverage can start or end at an instant: a UTC date less
-- one, because a centre's local date is never more than a day before the UTC date.
CREATE FUNCTION allowance_instant_day(p_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_at AT TIME ZONE 'UTC')::date - 1
$$;

-- A resident's paid periods from p_from to p_to, each with whether it is unchanged since its
-- payout: nothing logged after the payout's counters reaches a day before the period's end, so
-- it is worth exactly its payout's net_ore. One definition for the statements and the payout's
-- check; a set-returning SQL function so that the planner inlines it (OFFSET 0 keeps it a
-- lookup by the resident's index, not a join over every payout).
CREATE FUNCTION allowance_paid_periods(p_resident bigint, p_from date, p_to date)
RETURNS TABLE (period_start date, net_ore bigint, unchanged boolean)
LANGUAGE sql STABLE AS $$
    SELECT q.period_start, q.net_ore,
           q.inputs_version IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM allowance_input_changes c
                           WHERE c.resident = q.resident AND c.version > q.inputs_version
                             AND c.affects_from < q.period_start + 14)
           AND NOT EXISTS (SELECT 1 FROM allowance_rule_changes g
                           WHERE g.version > q.rules_version
                             AND g.affects_from < q.period_start + 14)
    FROM payouts q
    WHERE q.resident = p_resident AND q.period_start BETWEEN p_from AND p_to
    OFFSET 0
$$;

-- A change reaching from p_from: the resident's, or the rules' when there is no resident.
CREATE FUNCTION allowance_changed(p_resident bigint, p_from date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_resident IS NULL THEN
        PERFORM allowance_rules_changed(p_from);
    ELSE
        PERFORM allowance_input_changed(p_resident, p_from);
    END IF;
END $$;

-- What a row change reaches, for every table below: an inserted row from its own first day, a
-- deleted one from its first day, a row moved to another resident from each side's first day,
-- a changed row from the earlier of the two. The caller says what "first day" means for its
-- table (old_from, new_from); a NULL resident is a rules change (rates).
CREATE FUNCTION allowance_row_changed(p_op text, p_old_resident bigint, p_old_from date,
                                      p_new_resident bigint, p_new_from date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_op = 'INSERT' THEN
        PERFORM allowance_changed(p_new_resident, p_new_from);
    ELSIF p_op = 'DELETE' THEN
        PERFORM allowance_changed(p_old_resident, p_old_from);
    ELSIF p_old_resident IS DISTINCT FROM p_new_resident THEN
        PERFORM allowance_changed(p_old_resident, p_old_from);
        PERFORM allowance_changed(p_new_resident, p_new_from);
    ELSE
        PERFORM allowance_changed(p_new_resident, least(p_old_from, p_new_from));
    END IF;
END $$;

-- Stays reach from their first day; a changed end only from the earlier of the two ends (a
-- departure recorded today does not reach back into paid periods).
CREATE FUNCTION stays_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.resident = NEW.resident AND OLD.centre = NEW.centre
       AND OLD.from_date = NEW.from_date THEN
        PERFORM allowance_row_changed(TG_OP, OLD.resident, coalesce(OLD.to_date, 'infinity'),
                                      NEW.resident, coalesce(NEW.to_date, 'infinity'));
    ELSE
        PERFORM allowance_row_changed(TG_OP, OLD.resident, OLD.from_date,
                                      NEW.resident, NEW.from_date);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stays_allowance_changed AFTER INSERT OR DELETE ON stays
    FOR EACH ROW EXECUTE FUNCTION stays_allowance_changed();

CREATE TRIGGER stays_allowance_changed_update AFTER UPDATE ON stays
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION stays_allowance_changed();

-- Phases reach from their date, except the resident's first phase, which also applies before
-- it (resident_phase_on): a change of the first phase reaches back to the start.
CREATE FUNCTION phase_reach(p_resident bigint, p_from date) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM phases p
                             WHERE p.resident = p_resident AND p.from_date < p_from)
                THEN p_from ELSE '-infinity' END
$$;

CREATE FUNCTION phases_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM allowance_row_changed(
        TG_OP, OLD.resident,
        CASE WHEN TG_OP <> 'INSERT' THEN phase_reach(OLD.resident, OLD.from_date) END,
        NEW.resident,
        CASE WHEN TG_OP <> 'DELETE' THEN phase_reach(NEW.resident, NEW.from_date) END);
    RETURN NULL;
END $$;

CREATE TRIGGER phases_allowance_changed AFTER INSERT OR DELETE ON phases
    FOR EACH ROW EXECUTE FUNCTION phases_allowance_changed();

CREATE TRIGGER phases_allowance_changed_update AFTER UPDATE ON phases
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION phases_allowance_changed();

-- Absences: only where they begin and end matter. A moved return alone reaches from the earlier
-- of the two returns (an absence still open covered up to the clock).
CREATE FUNCTION absences_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.resident = NEW.resident AND OLD.since = NEW.since THEN
        PERFORM allowance_row_changed(
            TG_OP, OLD.resident, allowance_instant_day(coalesce(OLD.returned_at, NEW.returned_at)),
            NEW.resident, allowance_instant_day(coalesce(NEW.returned_at, OLD.returned_at)));
    ELSE
        PERFORM allowance_row_changed(TG_OP, OLD.resident, allowance_instant_day(OLD.since),
                                      NEW.resident, allowance_instant_day(NEW.since));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER absences_allowance_changed AFTER INSERT OR DELETE ON absences
    FOR EACH ROW EXECUTE FUNCTION absences_allowance_changed();

CREATE TRIGGER absences_allowance_changed_update AFTER UPDATE ON absences
    FOR EACH ROW WHEN (OLD.resident <> NEW.resident OR OLD.since <> NEW.since
                       OR OLD.returned_at IS DISTINCT FROM NEW.returned_at)
    EXECUTE FUNCTION absences_allowance_changed();

-- Sanctions reach from their first day.
CREATE FUNCTION sanctions_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM allowance_row_changed(TG_OP, OLD.resident, OLD.from_date,
                                  NEW.resident, NEW.from_date);
    RETURN NULL;
END $$;

CREATE TRIGGER sanctions_allowance_changed AFTER INSERT OR DELETE ON sanctions
    FOR EACH ROW EXECUTE FUNCTION sanctions_allowance_changed();

CREATE TRIGGER sanctions_allowance_changed_update AFTER UPDATE ON sanctions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION sanctions_allowance_changed();

-- A corrected date of birth moves the 18th birthday, which may lie in any period.
CREATE FUNCTION residents_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM allowance_input_changed(NEW.id, '-infinity');
    RETURN NULL;
END $$;

CREATE TRIGGER residents_allowance_changed AFTER UPDATE ON residents
    FOR EACH ROW WHEN (OLD.date_of_birth IS DISTINCT FROM NEW.date_of_birth)
    EXECUTE FUNCTION residents_allowance_changed();

-- Rates (for everybody: no resident) reach from their first day; a changed end only from the
-- day after the earlier end (superseding a rate on POST /v1/rates ends it the day before the
-- new one).
CREATE FUNCTION rates_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.kind = NEW.kind AND OLD.per_day_ore = NEW.per_day_ore
       AND OLD.valid_from = NEW.valid_from THEN
        PERFORM allowance_row_changed(TG_OP, NULL, coalesce(OLD.valid_to, 'infinity') + 1,
                                      NULL, coalesce(NEW.valid_to, 'infinity') + 1);
    ELSE
        PERFORM allowance_row_changed(TG_OP, NULL, OLD.valid_from, NULL, NEW.valid_from);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER rates_allowance_changed AFTER INSERT OR DELETE ON rates
    FOR EACH ROW EXECUTE FUNCTION rates_allowance_changed();

CREATE TRIGGER rates_allowance_changed_update AFTER UPDATE ON rates
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION rates_allowance_changed();

-- A centre's meal scheme or time zone applies to every day of every stay there.
CREATE FUNCTION centres_allowance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM allowance_rules_changed('-infinity');
    RETURN NULL;
END $$;

CREATE TRIGGER centres_allowance_changed AFTER UPDATE ON centres
    FOR EACH ROW WHEN (OLD.free_meals IS DISTINCT FROM NEW.free_meals
                       OR OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION centres_allowance_changed();

-- ---------------------------------------------------------------------------------------------
-- The facts: one set-based query
-- ---------------------------------------------------------------------------------------------

-- The units of a facts query as rows. PL/pgSQL, not inlined, so that the planner takes the
-- declared ROWS (a page of residents) instead of unnest()'s guess of 10: with 10 it chose nested
-- loops that re-ran whole subqueries once per resident, quadratic in the page size.
CREATE FUNCTION allowance_units(p_residents bigint[], p_periods date[])
RETURNS TABLE (resident bigint, p date)
LANGUAGE plpgsql IMMUTABLE ROWS 2000 AS $$
BEGIN
    RETURN QUERY SELECT DISTINCT u.r, u.d FROM unnest(p_residents, p_periods) AS u(r, d);
END $$;

CREATE FUNCTION allowance_ids(p_residents bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql IMMUTABLE ROWS 2000 AS $$
BEGIN
    RETURN QUERY SELECT DISTINCT x FROM unnest(p_residents) AS x;
END $$;

-- For each unit (resident, period start) of the two arrays, the payable days of the 14-day
-- period, their groups as text "kind per_day_ore percent days" joined by commas (the kinds in
-- rate order, each kind's groups in the order of their first day; text rather than JSON arrays
-- because building JSON was a fifth of the cost), and the centre of the last stay in the period
-- (NULL when not enrolled in it). A day is payable when the resident is enrolled
-- (a stay with from_date <= day < to_date, at the centre of that stay), is under 18 that day
-- (completed years as age() counts them), and is not covered from 00:00 to 24:00 local time
-- (the day's centre's time zone, so a 23- or 25-hour daylight-saving day is one day like any
-- other) by an absence from `since` to its return. An absence still open counts as lasting until
-- p_now: a day that has not ended yet is not known to be missed.
--
-- Rather than one row per day, the period is cut into segments at every date where something
-- can change (a stay, a phase, a rate, a sanction, the 18th birthday, the first and the end of
-- an absence's whole days); each segment's facts are looked up once at its first day. Most
-- residents have a single segment, which is what keeps 100,000 residents within seconds.
CREATE FUNCTION allowance_facts(p_residents bigint[], p_periods date[], p_now timestamptz)
RETURNS TABLE (resident bigint, period_start date, payable_days int, groups text,
               centre text)
LANGUAGE sql STABLE AS $$
-- Every table is reached from the units by an index lookup on the resident (LATERAL ... OFFSET 0
-- keeps the planner from turning a lookup into a scan of the whole table, which it would do for
-- every page of a centre's export, quadratic in the centre's size).
WITH units AS (
    SELECT u.resident, u.p, u.p + 14 AS pe, r.dob
    FROM allowance_units(p_residents, p_periods) AS u
    JOIN LATERAL (SELECT r.date_of_birth AS dob FROM residents r WHERE r.id = u.resident
                  OFFSET 0) AS r ON true
),
-- Each stay's part of the period [sf, st), with its centre's meal scheme and time zone.
unit_stays AS (
    SELECT u.resident, u.p, greatest(s.from_date, u.p) AS sf,
           least(coalesce(s.to_date, u.pe), u.pe) AS st, s.centre, c.free_meals, c.timezone
    FROM units u
    JOIN LATERAL (SELECT s.from_date, s.to_date, s.centre FROM stays s
                  WHERE s.resident = u.resident AND s.from_date < u.pe
                    AND (s.to_date IS NULL OR s.to_date > u.p)
                  OFFSET 0) AS s ON true
    JOIN centres c ON c.id = s.centre
),
-- The first day the resident is 18 (age() counts a 29 February birthday's 18th on 1 March in
-- a common year).
adults AS (
    SELECT u.resident, u.p,
           CASE WHEN age((u.dob + interval '18 years')::date, u.dob) >= interval '18 years'
                THEN (u.dob + interval '18 years')::date
                ELSE (u.dob + interval '18 years')::date + 1 END AS adult_from
    FROM units u
),
-- The whole local days [cover_from, cover_to) an absence covers, in the time zone of each stay
-- it overlaps: from the first midnight at or after `since` to the last midnight at or before
-- the return.
covers AS (
    SELECT us.resident, us.p, us.sf, us.st,
           CASE WHEN (a.since AT TIME ZONE us.timezone)::time = time '00:00'
                THEN (a.since AT TIME ZONE us.timezone)::date
                ELSE (a.since AT TIME ZONE us.timezone)::date + 1 END AS cover_from,
           (coalesce(a.returned_at, p_now) AT TIME ZONE us.timezone)::date AS cover_to
    FROM unit_stays us
    JOIN LATERAL (SELECT a.since, a.returned_at FROM absences a
                  WHERE a.resident = us.resident
                    AND a.since < (us.st::timestamp AT TIME ZONE us.timezone)
                    AND coalesce(a.returned_at, p_now)
                        > (us.sf::timestamp AT TIME ZONE us.timezone)
                  OFFSET 0) AS a ON true
),
-- Every day a rate starts or stops applying: a handful of dates, computed once per query.
rate_cuts AS (
    SELECT DISTINCT x.cut FROM rates ra
    CROSS JOIN LATERAL (VALUES (ra.valid_from), (ra.valid_to + 1)) AS x(cut)
    WHERE x.cut IS NOT NULL
),
cuts AS (
    SELECT u.resident, u.p, u.p AS cut FROM units u
    UNION SELECT us.resident, us.p, us.sf FROM unit_stays us
    UNION SELECT us.resident, us.p, us.st FROM unit_stays us WHERE us.st < us.p + 14
    UNION SELECT a.resident, a.p, a.adult_from FROM adults a
          WHERE a.adult_from > a.p AND a.adult_from < a.p + 14
    UNION SELECT u.resident, u.p, ph.from_date FROM units u
          JOIN phases ph ON ph.resident = u.resident
          WHERE ph.from_date > u.p AND ph.from_date < u.pe
    UNION SELECT u.resident, u.p, x.cut FROM units u
          JOIN LATERAL (SELECT sa.from_date, sa.to_date FROM sanctions sa
                        WHERE sa.resident = u.resident AND sa.from_date < u.pe
                          AND sa.to_date >= u.p OFFSET 0) AS sa ON true
          CROSS JOIN LATERAL (VALUES (sa.from_date), (sa.to_date + 1)) AS x(cut)
          WHERE x.cut > u.p AND x.cut < u.pe
    -- A rate boundary inside the period (a rate with one there overlaps the period).
    UNION SELECT u.resident, u.p, rc.cut FROM units u
          JOIN rate_cuts rc ON rc.cut > u.p AND rc.cut < u.pe
    UNION SELECT c.resident, c.p, x.cut FROM covers c
          CROSS JOIN LATERAL (VALUES (c.cover_from), (c.cover_to)) AS x(cut)
          WHERE x.cut > c.p AND x.cut < c.p + 14
),
segments AS (
    SELECT c.resident, c.p, c.cut AS seg_from,
           coalesce(lead(c.cut) OVER (PARTITION BY c.resident, c.p ORDER BY c.cut),
                    c.p + 14) AS seg_to
    FROM cuts c
),
payable AS (
    SELECT sg.resident, sg.p, sg.seg_from, sg.seg_to - sg.seg_from AS days, us.free_meals
    FROM segments sg
    JOIN unit_stays us ON us.resident = sg.resident AND us.p = sg.p
         AND sg.seg_from >= us.sf AND sg.seg_from < us.st
    JOIN adults ad ON ad.resident = sg.resident AND ad.p = sg.p AND sg.seg_from < ad.adult_from
    WHERE NOT EXISTS (SELECT 1 FROM covers c
                      WHERE c.resident = sg.resident AND c.p = sg.p
                        AND sg.seg_from >= c.sf AND sg.seg_from < c.st
                        AND sg.seg_from >= c.cover_from AND sg.seg_from < c.cover_to)
),
-- The phase in force on a day: the latest from_date on or before it, else the first recorded
-- phase (as resident_phase_on in residents.sql says).
phased AS MATERIALIZED (
    SELECT pa.*,
           coalesce((SELECT ph.phase FROM phases ph
                     WHERE ph.resident = pa.resident AND ph.from_date <= pa.seg_from
                     ORDER BY ph.from_date DESC LIMIT 1),
                    (SELECT ph.phase FROM phases ph WHERE ph.resident = pa.resident
                     ORDER BY ph.from_date LIMIT 1)) AS phase
    FROM payable pa
),
lines AS (
    SELECT pa.resident, pa.p, pa.seg_from, pa.days, ra.kind, ra.per_day_ore, 0 AS percent
    FROM payable pa
    JOIN rates ra ON ra.kind = 'base' AND pa.seg_from >= ra.valid_from
         AND (ra.valid_to IS NULL OR pa.seg_from <= ra.valid_to)
    WHERE NOT pa.free_meals
    UNION ALL
    SELECT ph.resident, ph.p, ph.seg_from, ph.days, ra.kind, ra.per_day_ore,
           (SELECT least(100, coalesce(sum(sa.percent), 0))::int FROM sanctions sa
            WHERE sa.resident = ph.resident
              AND ph.seg_from BETWEEN sa.from_date AND sa.to_date)
    FROM phased ph
    JOIN rates ra ON ra.kind = 'supplement_phase' || ph.phase AND ph.seg_from >= ra.valid_from
         AND (ra.valid_to IS NULL OR ph.seg_from <= ra.valid_to)
    WHERE ph.phase IN (1, 2)
),
grouped AS (
    SELECT l.resident, l.p,
           string_agg(l.kind || ' ' || l.per_day_ore || ' ' || l.percent || ' ' || l.days, ','
                      ORDER BY l.kind, l.first_day, l.per_day_ore, l.percent) AS groups
    FROM (SELECT resident, p, kind, per_day_ore, percent, sum(days)::int AS days,
                 min(seg_from) AS first_day
          FROM lines GROUP BY 1, 2, 3, 4, 5) AS l
    GROUP BY l.resident, l.p
),
days AS (
    SELECT pa.resident, pa.p, sum(pa.days)::int AS days FROM payable pa GROUP BY 1, 2
),
last_stays AS (
    SELECT DISTINCT ON (us.resident, us.p) us.resident, us.p, us.centre
    FROM unit_stays us ORDER BY us.resident, us.p, us.sf DESC
)
SELECT u.resident, u.p, coalesce(d.days, 0), coalesce(g.groups, ''), ls.centre
FROM units u
LEFT JOIN grouped g ON g.resident = u.resident AND g.p = u.p
LEFT JOIN days d ON d.resident = u.resident AND d.p = u.p
LEFT JOIN last_stays ls ON ls.resident = u.resident AND ls.p = u.p
$$;

-- A payout as the API shows it; with_statement adds the statement as paid.
CREATE FUNCTION payout_json(p_p payouts, p_with_statement boolean DEFAULT true) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', ($1).id, 'resident', ($1).resident, 'period_start', ($1).period_start,
        'period_end', ($1).period_start + 13, 'centre', ($1).centre,
        'collected_by', ($1).collected_by, 'agreement', ($1).agreement,
        'paid_at', ($1).paid_at, 'paid_by', ($1).paid_by, 'amount_ore', ($1).amount_ore,
        'net_ore', ($1).net_ore, 'adjustment_ore', ($1).adjustment_ore)
        || CASE WHEN $2 THEN jsonb_build_object('statement', ($1).statement)
                ELSE '{}'::jsonb END
$$;

-- What paid periods are settled at: the payout's net_ore plus the corrections of the period
-- paid since.
CREATE FUNCTION payout_settled(p_resident bigint, p_period date) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT p.net_ore + coalesce((SELECT sum(c.amount_ore) FROM payout_corrections c
                                 WHERE c.resident = p.resident AND c.period_start = p.period_start),
                                0)
    FROM payouts p WHERE p.resident = $1 AND p.period_start = $2
$$;

-- The facts of a period for a set of residents, one JSON item per resident (by id), for the C
-- side (daemon/statement.c) to turn into statements:
--   {"resident":{"id","case_number","given_name","family_name"}, "centre", "period_start",
--    "period_end", "facts":{"payable_days","groups":"kind per_day_ore percent days,..."},
--    "payout": the payout or null, "settled_ore": when paid,
--    "worth_ore": when paid and unchanged since (allowance_paid_periods): what the period is
--                 worth, its payout's net_ore; "facts" is then null,
--    "earlier": when not paid, the paid periods of the correction window before it that
--               changed since they were paid, oldest first: [{"period_start", "facts",
--               "settled_ore"}] (an unchanged one has no correction to carry)}
-- "centre" is the resident's centre on the period's last day (the stay that began last on or
-- before it): the centre whose export lists the statement.
CREATE FUNCTION allowance_items(p_residents bigint[], p_period date, p_now timestamptz)
RETURNS json
LANGUAGE sql STABLE AS $$
-- Written so that no two computed sets are joined to each other (the planner cannot estimate
-- them and chose nested loops, quadratic in the page size): lookups go to tables by index, and
-- the rows of a resident are brought together by GROUP BY.
WITH res AS MATERIALIZED (
    SELECT x.resident FROM allowance_ids(p_residents) AS x(resident)
),
-- Computed once (a call in the lookups below would run once per resident): the first period
-- start of the correction window and whether paid periods may be reused.
params AS MATERIALIZED (
    SELECT p_period - 14 * allowance_correction_periods() AS since,
           allowance_reuse_paid() AS reuse
),
-- The period itself: whether it is paid, and unchanged since.
current AS MATERIALIZED (
    SELECT res.resident, pd.period_start IS NOT NULL AS paid, pd.net_ore,
           coalesce(w.reuse AND pd.unchanged, false) AS unchanged
    FROM res CROSS JOIN params w
    LEFT JOIN LATERAL allowance_paid_periods(res.resident, p_period, p_period) AS pd ON true
),
-- Each unpaid resident's paid periods in the window that changed since they were paid (one
-- unchanged has no correction to carry: it is worth what it was paid at).
earlier AS MATERIALIZED (
    SELECT c.resident, q.period_start
    FROM current c CROSS JOIN params w
    JOIN LATERAL allowance_paid_periods(c.resident, w.since, p_period - 1) AS q ON true
    WHERE NOT c.paid AND NOT (w.reuse AND q.unchanged)
),
-- Every period of every resident: computed, or worth what it was paid at when unchanged.
facts AS MATERIALIZED (
    SELECT x.*,
           -- settled: what a paid period is settled at (payout_settled(), inline: a SQL
           -- function called per row is planned per call); NULL when the period is not paid.
           (SELECT p.net_ore + coalesce((SELECT sum(c.amount_ore) FROM payout_corrections c
                                         WHERE c.resident = p.resident
                                           AND c.period_start = p.period_start), 0)
            FROM payouts p
            WHERE p.resident = x.resident AND p.period_start = x.period_start) AS settled
    FROM (SELECT f.resident, f.period_start, f.payable_days, f.groups, f.centre,
                 NULL::bigint AS worth
          FROM allowance_facts(
              (SELECT array_agg(c.resident) FROM current c WHERE NOT c.unchanged)
                  || coalesce((SELECT array_agg(e.resident) FROM earlier e), '{}'),
              (SELECT array_agg(p_period) FROM current c WHERE NOT c.unchanged)
                  || coalesce((SELECT array_agg(e.period_start) FROM earlier e), '{}'),
              p_now) AS f
          UNION ALL
          SELECT c.resident, p_period, NULL, NULL, NULL, c.net_ore FROM current c
          WHERE c.unchanged) AS x
),
grouped AS (
    SELECT f.resident,
           max(f.payable_days) FILTER (WHERE f.period_start = p_period) AS payable_days,
           max(f.groups) FILTER (WHERE f.period_start = p_period) AS groups,
           max(f.centre) FILTER (WHERE f.period_start = p_period) AS centre,
           max(f.settled) FILTER (WHERE f.period_start = p_period) AS settled,
           max(f.worth) FILTER (WHERE f.period_start = p_period) AS worth,
           coalesce(json_agg(json_build_object(
                        'period_start', f.period_start,
                        'facts', json_build_object('payable_days', f.payable_days,
                                                   'groups', f.groups),
                        'settled_ore', f.settled) ORDER BY f.period_start)
                    FILTER (WHERE f.period_start < p_period), '[]'::json) AS earlier
    FROM facts f
    GROUP BY f.resident
)
-- Built as json text, never parsed here: building jsonb item by item (a tree per object, copied
-- again into the aggregate) was a fifth of a page's time, and parsing the text once into jsonb
-- another sixth.
SELECT coalesce(json_agg(json_build_object(
           'resident', json_build_object('id', r.id, 'case_number', r.case_number,
                                         'given_name', r.given_name,
                                         'family_name', r.family_name),
           'centre', coalesce(g.centre, resident_centre_on(r.id, p_period + 13)),
           'period_start', p_period,
           'period_end', p_period + 13,
           'facts', CASE WHEN g.worth IS NULL
                         THEN json_build_object('payable_days', g.payable_days,
                                                'groups', g.groups) END,
           'worth_ore', g.worth,
           'payout', CASE WHEN pd.id IS NULL THEN NULL ELSE payout_json(pd) END,
           'settled_ore', CASE WHEN pd.id IS NOT NULL THEN g.settled END,
           'earlier', CASE WHEN pd.id IS NULL THEN g.earlier END)
       ORDER BY r.id), '[]'::json)
FROM grouped g
JOIN residents r ON r.id = g.resident
LEFT JOIN payouts pd ON pd.resident = g.resident AND pd.period_start = p_period
$$;

-- ---------------------------------------------------------------------------------------------
-- Operations
-- ---------------------------------------------------------------------------------------------

-- The change counters as of a period's facts, for its payout to keep
-- ({"inputs_version","rules_version"}); null while the facts depend on p_now: an absence still
-- open can reach into the period until its last day has ended in every time zone. Called in the
-- same statement as allowance_items, so that both see one snapshot: a change committed after
-- it has a higher number.
CREATE FUNCTION allowance_inputs(p_resident bigint, p_period date, p_now timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_now >= x.settled_after
                  OR NOT EXISTS (SELECT 1 FROM absences a
                                 WHERE a.resident = p_resident AND a.returned_at IS NULL
                                   AND a.since < x.settled_after)
           THEN jsonb_build_object(
                    'inputs_version',
                    coalesce((SELECT v.version FROM allowance_input_versions v
                              WHERE v.resident = p_resident), 0),
                    'rules_version', (SELECT v.version FROM allowance_rules_version v))
           END
    FROM (SELECT (p_period + 15)::timestamp AT TIME ZONE 'UTC' AS settled_after) AS x
$$;

-- GET /v1/residents/{id}/statements/{period_start} (manager, admin): the facts of one resident
-- and period, with "inputs" (allowance_inputs) when it is not paid; the daemon computes the
-- statement (handlers_statements.c). The payout handler calls it too, before resident_payout.
CREATE FUNCTION op_resident_statement(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    start date := allowance_period_arg(args->'path'->>'period_start');
BEGIN
    PERFORM audit(ctx, 'statement_read', r.id, jsonb_build_object('period_start', start));
    RETURN QUERY
    SELECT 200, CASE WHEN jsonb_typeof(i->'payout') = 'null'
                     THEN i || jsonb_build_object('inputs',
                                                  allowance_inputs(r.id, start, ctx_now(ctx)))
                     ELSE i END
    FROM (SELECT allowance_items(ARRAY[r.id], start, ctx_now(ctx))::jsonb->0 AS i) AS x;
END $$;

-- The residents whose statement a centre's export lists for a period: enrolled on at least one
-- day of it, and at this centre on its last day or, having left, when they left (the stay that
-- began last on or before the period's last day). Inlined by the planner, so the callers'
-- WHERE, ORDER BY and LIMIT walk the (centre, resident) index.
CREATE FUNCTION allowance_export_residents(p_centre text, p_start date)
RETURNS TABLE (resident bigint)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT s.resident FROM stays s
    WHERE s.centre = p_centre
      AND s.from_date < p_start + 14 AND (s.to_date IS NULL OR s.to_date > p_start)
      AND NOT EXISTS (SELECT 1 FROM stays later
                      WHERE later.resident = s.resident AND later.from_date > s.from_date
                        AND later.from_date <= p_start + 13)
$$;

-- GET /v1/centres/{id}/statements/{period_start} (manager, admin): one page of the facts of the
-- residents of the centre's export, in resident order. The page is args.page when the daemon
-- walks the whole centre: {"after": id, "limit": n, "upto": id or null, "bounds": bool}, the
-- residents after `after` up to `upto`; with "bounds" the answer also lists "page_ends", the
-- last resident of every full page of `limit` after this one, so that the daemon can ask for
-- several pages at once. Without args.page it is the list's ?after=&limit=. Answers
-- {"centre","period_start","period_end","after","items","next","page_ends"} as json text: the
-- items stay the text allowance_items built (parsing a page into jsonb and writing it out again
-- cost a fifth of the page).
CREATE FUNCTION op_centre_statements(ctx jsonb, args jsonb) RETURNS TABLE(status int, body json)
LANGUAGE plpgsql AS $$
DECLARE
    c centres := require_centre(ctx, args->'path'->>'id');
    start date := allowance_period_arg(args->'path'->>'period_start');
    pg jsonb := args->'page';
    lim int := coalesce(arg_int(pg->>'limit', 'limit', 1, 10000), page_limit(args));
    after_id bigint := CASE WHEN pg ? 'after' THEN (pg->>'after')::bigint
                            ELSE page_after_id(args) END;
    upto bigint := (pg->>'upto')::bigint;
    ids bigint[];
    ends json;
BEGIN
    SELECT coalesce(array_agg(x.resident ORDER BY x.resident), '{}') INTO ids
    FROM (SELECT e.resident FROM allowance_export_residents(c.id, start) AS e
          WHERE e.resident > after_id AND (upto IS NULL OR e.resident <= upto)
          ORDER BY e.resident LIMIT lim + 1) AS x;
    IF coalesce((pg->>'bounds')::boolean, false) THEN
        SELECT coalesce(json_agg(x.resident ORDER BY x.resident), '[]') INTO ends
        FROM (SELECT e.resident, row_number() OVER (ORDER BY e.resident) AS n
              FROM allowance_export_residents(c.id, start) AS e
              WHERE e.resident > after_id) AS x
        WHERE x.n % lim = 0 AND x.n > lim;
    END IF;
    PERFORM audit_many(ctx, 'statement_read', ids[1:lim]);
    RETURN QUERY SELECT 200, json_build_object(
        'centre', json_build_object('id', c.id, 'name', c.name, 'free_meals', c.free_meals),
        'period_start', start, 'period_end', start + 13, 'after', after_id,
        'items', allowance_items(ids[1:lim], start, ctx_now(ctx)),
        'next', CASE WHEN cardinality(ids) > lim THEN ids[lim]::text END,
        'page_ends', ends);
END $$;

-- The sanction as the API shows it.
CREATE FUNCTION sanction_json(p_s sanctions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', ($1).id, 'resident', ($1).resident, 'centre', ($1).centre,
        'from', ($1).from_date, 'to', ($1).to_date, 'percent', ($1).percent,
        'reason', ($1).reason, 'heard_at', ($1).heard_at, 'decided_at', ($1).decided_at,
        'decided_by', ($1).decided_by,
        'in12', (SELECT jsonb_agg(jsonb_build_object('event_id', d.event_id,
                                                     'authority', d.authority,
                                                     'delivered_at', d.delivered_at)
                                  ORDER BY d.id)
                 FROM deliveries d WHERE d.outbox = ($1).in12_outbox))
$$;

-- POST /v1/residents/{id}/sanctions {"from","to","percent","reason","heard_at"} (manager,
-- admin). The decision and its IN12 report to the Immigration Service (and to nobody else) are
-- written in this one transaction: the report cannot be lost, nor sent for a decision that was
-- rolled back.
CREATE FUNCTION op_resident_sanction_create(ctx jsonb, args jsonb)
RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    r residents := require_resident(ctx, args);
    now_ timestamptz := ctx_now(ctx);
    from_ date := arg_date(arg_required(b, 'from'), 'from');
    to_ date := arg_date(arg_required(b, 'to'), 'to');
    percent_ int := arg_int(arg_required(b, 'percent'), 'percent', 1, 100);
    reason_ text := arg_text(b, 'reason', 4000);
    heard timestamptz := arg_instant(arg_required(b, 'heard_at'), 'heard_at');
    centre_ text := resident_centre_on(r.id, resident_today(r.id, now_));
    today date := resident_today(r.id, now_);
    outbox_id bigint;
    created sanctions;
BEGIN
    IF to_ < from_ THEN
        PERFORM fail(400, 'bad_field', 'to must not be before from', 'to');
    END IF;
    IF reason_ IS NULL THEN
        PERFORM fail(400, 'missing_field', 'reason is required', 'reason');
    END IF;
    IF heard > now_ THEN
        PERFORM fail(400, 'bad_field',
                     'heard_at is in the future: the resident must be heard before the decision',
                     'heard_at');
    END IF;
    outbox_id := outbox_enqueue_for(
        centre_, 'sanction.in12',
        jsonb_build_object(
            'type', 'sanction.in12',
            'centre', outbox_centre_json(centre_),
            'resident', outbox_resident_json(r.id, today),
            'from', from_, 'to', to_, 'percent', percent_, 'reason', reason_,
            'heard_at', heard, 'decided_by', ctx->>'cn'),
        ARRAY['immigration'], now_, NULL, r.id, now_);
    INSERT INTO sanctions (resident, centre, from_date, to_date, percent, reason, heard_at,
                           decided_at, decided_by, in12_outbox)
    VALUES (r.id, centre_, from_, to_, percent_, reason_, heard, now_, ctx->>'cn', outbox_id)
    RETURNING * INTO created;
    PERFORM audit(ctx, 'sanction_create', r.id,
                  jsonb_build_object('sanction', created.id, 'from', from_, 'to', to_,
                                     'percent', percent_));
    RETURN QUERY SELECT 201, sanction_json(created);
END $$;

-- GET /v1/residents/{id}/sanctions (manager, admin): every sanction of the resident, by id.
CREATE FUNCTION op_resident_sanction_list(ctx jsonb, args jsonb)
RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    lim int := page_limit(args);
    after_id bigint := page_after_id(args);
BEGIN
    PERFORM audit(ctx, 'sanction_list', r.id);
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(sanction_json(s) ORDER BY s.id), '[]'), lim)
    FROM (SELECT * FROM sanctions s WHERE s.resident = r.id AND s.id > after_id
          ORDER BY s.id LIMIT lim + 1) AS s;
END $$;

CREATE FUNCTION agreement_json(p_a agreements) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', ($1).id, 'resident', ($1).resident,
                              'proxy_name', ($1).proxy_name, 'from', ($1).from_date,
                              'to', ($1).to_date, 'created_at', ($1).created_at,
                              'created_by', ($1).created_by)
$$;

-- POST /v1/residents/{id}/agreements {"proxy_name","from","to"} (manager, admin).
CREATE FUNCTION op_resident_agreement_create(ctx jsonb, args jsonb)
RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    r residents := require_resident(ctx, args);
    proxy text := arg_text(b, 'proxy_name', 200);
    from_ date := arg_date(arg_required(b, 'from'), 'from');
    to_ date := arg_date(b->>'to', 'to');
    created agreements;
BEGIN
    IF proxy IS NULL THEN
        PERFORM fail(400, 'missing_field', 'proxy_name is required', 'proxy_name');
    END IF;
    IF lower(btrim(proxy)) = 'self' THEN
        PERFORM fail(400, 'bad_field', '"self" means the resident in person, not a proxy',
                     'proxy_name');
    END IF;
    IF to_ < from_ THEN
        PERFORM fail(400, 'bad_field', 'to must not be before from', 'to');
    END IF;
    INSERT INTO agreements (resident, proxy_name, from_date, to_date, created_at, created_by)
    VALUES (r.id, btrim(proxy), from_, to_, ctx_now(ctx), ctx->>'cn')
    RETURNING * INTO created;
    PERFORM audit(ctx, 'agreement_create', r.id, jsonb_build_object('agreement', created.id));
    RETURN QUERY SELECT 201, agreement_json(created);
END $$;

-- GET /v1/residents/{id}/agreements (manager, admin).
CREATE FUNCTION op_resident_agreement_list(ctx jsonb, args jsonb)
RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    lim int := page_limit(args);
    after_id bigint := page_after_id(args);
BEGIN
    PERFORM audit(ctx, 'agreement_list', r.id);
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(agreement_json(a) ORDER BY a.id), '[]'), lim)
    FROM (SELECT * FROM agreements a WHERE a.resident = r.id AND a.id > after_id
          ORDER BY a.id LIMIT lim + 1) AS a;
END $$;

-- POST /v1/residents/{id}/payouts {"period_start","collected_by"} (manager, admin), called by
-- the daemon's payout handler after it has computed the statement from resident_statement's
-- facts. args.statement (set by the daemon, never by the client, whose body the route's field
-- table limits to the two fields) holds {"statement","amount_ore","net_ore","adjustment_ore",
-- "corrections":[{"period_start","amount_ore"}],"basis":[{"period_start","settled_ore"}],
-- "inputs": the facts' "inputs", kept so that the period need not be recomputed while nothing
-- changes it}, or null when the facts showed the period paid already.
--
-- The payout day is the resident's local today: collection by anyone but the resident needs a
-- special agreement naming that person (compared without regard to case or surrounding spaces)
-- and covering that day. The UNIQUE constraint decides "paid once"; a second payout, or the
-- loser of a race, gets 409 already_paid with the first payout in "payout".
CREATE FUNCTION op_resident_payout(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    b jsonb := args->'body';
    computed jsonb := args->'statement';
    r residents := require_resident(ctx, args);
    now_ timestamptz := ctx_now(ctx);
    start date := allowance_period_arg(b->>'period_start');
    collector text := arg_text(b, 'collected_by', 200);
    today date := resident_today(r.id, now_);
    agreement_ agreements;
    first payouts;
    created payouts;
    open_ absences;
    stale text;
BEGIN
    IF collector IS NULL THEN
        PERFORM fail(400, 'missing_field', 'collected_by is required ("self" or the proxy''s name)',
                     'collected_by');
    END IF;
    IF start > today THEN
        PERFORM fail(409, 'period_not_started',
                     format('the period starting %s has not begun (today is %s)', start, today),
                     'period_start');
    END IF;
    IF lower(btrim(collector)) = 'self' THEN
        collector := 'self';
    ELSE
        SELECT * INTO agreement_ FROM agreements a
        WHERE a.resident = r.id AND lower(btrim(a.proxy_name)) = lower(btrim(collector))
          AND a.from_date <= today AND (a.to_date IS NULL OR today <= a.to_date)
        ORDER BY a.id DESC LIMIT 1;
        IF agreement_.id IS NULL THEN
            PERFORM fail(403, 'no_agreement',
                         format('%s may not collect this allowance: no special agreement for '
                                'this resident names them for %s; the resident must come in '
                                'person', btrim(collector), today), 'collected_by');
        END IF;
        collector := agreement_.proxy_name;
    END IF;

    -- One payout of a resident at a time: the corrections a payout settles were read before
    -- this transaction, and a concurrent payout of another period must not settle them too.
    PERFORM 1 FROM residents x WHERE x.id = r.id FOR UPDATE;
    INSERT INTO payouts AS p (resident, period_start, centre, collected_by, agreement, paid_at,
                              paid_by, net_ore, adjustment_ore, amount_ore, statement,
                              inputs_version, rules_version)
    VALUES (r.id, start, resident_centre_on(r.id, start + 13), collector, agreement_.id, now_,
            ctx->>'cn', coalesce((computed->>'net_ore')::bigint, 0),
            coalesce((computed->>'adjustment_ore')::bigint, 0),
            coalesce((computed->>'amount_ore')::bigint, 0),
            coalesce(computed->'statement', '{}'::jsonb),
            (computed->'inputs'->>'inputs_version')::bigint,
            (computed->'inputs'->>'rules_version')::bigint)
    ON CONFLICT ON CONSTRAINT payouts_once_per_period DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN
        SELECT * INTO first FROM payouts p WHERE p.resident = r.id AND p.period_start = start;
        PERFORM fail(409, 'already_paid',
                     format('the period starting %s was paid on %s (%s); a period is paid once',
                            start, to_jsonb(first.paid_at) #>> '{}',
                            CASE WHEN first.collected_by = 'self' THEN 'in person'
                                 ELSE 'to ' || first.collected_by END),
                     'period_start', jsonb_build_object('payout', payout_json(first)));
    END IF;
    -- In person means the resident is here: an open absence says otherwise (SPEC section 6,
    -- v2). Checked after the row lock, so a return recorded meanwhile is seen; a proxy under an
    -- agreement may still collect.
    IF collector = 'self' THEN
        SELECT * INTO open_ FROM absences a
        WHERE a.resident = r.id AND a.returned_at IS NULL
        ORDER BY a.since DESC LIMIT 1;
        IF open_.id IS NOT NULL THEN
            PERFORM fail(409, 'absence_open',
                         format('absence %s (away since %s) is open: record the return first',
                                open_.id, to_jsonb(open_.since) #>> '{}'),
                         'collected_by', jsonb_build_object('absence', absence_json(open_)));
        END IF;
    END IF;
    IF computed IS NULL OR jsonb_typeof(computed) <> 'object' THEN
        -- The facts showed this period paid, yet nothing conflicted: it changed meanwhile.
        PERFORM fail(409, 'statement_changed',
                     'the statement changed while the payout was prepared; try again',
                     'period_start');
    END IF;
    -- The corrections were computed from what the changed earlier periods were settled at; if
    -- another payout settled one of them meanwhile, the adjustment would pay it twice. A period
    -- that changed only meanwhile is missing from the basis: also a reason to start again.
    SELECT string_agg(x.period_start::text, ', ') INTO stale
    FROM (SELECT q.period_start
          FROM allowance_paid_periods(r.id, start - 14 * allowance_correction_periods(),
                                      start - 1) AS q
          WHERE NOT (allowance_reuse_paid() AND q.unchanged)) AS x
    FULL JOIN (SELECT (e->>'period_start')::date AS period_start,
                      (e->>'settled_ore')::bigint AS settled
               FROM jsonb_array_elements(coalesce(computed->'basis', '[]')) AS e) AS y
           ON y.period_start = x.period_start
    WHERE x.period_start IS NULL OR y.period_start IS NULL
       OR payout_settled(r.id, x.period_start) IS DISTINCT FROM y.settled;
    IF stale IS NOT NULL THEN
        PERFORM fail(409, 'statement_changed',
                     format('earlier periods (%s) were settled while this payout was prepared; '
                            'try again', stale), 'period_start');
    END IF;
    INSERT INTO payout_corrections (payout, resident, period_start, amount_ore)
    SELECT created.id, r.id, (e->>'period_start')::date, (e->>'amount_ore')::bigint
    FROM jsonb_array_elements(coalesce(computed->'corrections', '[]')) AS e
    WHERE (e->>'amount_ore')::bigint <> 0;
    PERFORM audit(ctx, 'payout_create', r.id,
                  jsonb_build_object('payout', created.id, 'period_start', start,
                                     'amount_ore', created.amount_ore,
                                     'collected_by', created.collected_by));
    RETURN QUERY SELECT 201, payout_json(created);
END $$;

-- GET /v1/residents/{id}/payouts (manager, admin): the resident's payouts, by id.
CREATE FUNCTION op_resident_payout_list(ctx jsonb, args jsonb)
RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    lim int := page_limit(args);
    after_id bigint := page_after_id(args);
BEGIN
    PERFORM audit(ctx, 'payout_list', r.id);
    RETURN QUERY
    SELECT 200, page(coalesce(jsonb_agg(payout_json(p) ORDER BY p.id), '[]'), lim)
    FROM (SELECT * FROM payouts p WHERE p.resident = r.id AND p.id > after_id
          ORDER BY p.id LIMIT lim + 1) AS p;
END $$;
