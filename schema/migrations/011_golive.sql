-- Release 2: observations that arrive late (SPEC section 2, v2). observed_at is the instant
-- staff made the observation (a terminal that was offline sends its round later); it is the
-- observation's instant wherever the rules speak of one (since, opened_at, returned_at).
-- Release-1 rows took the round's scheduled instant as their instant, so they keep it: every
-- since computed before the upgrade stays what it was.
ALTER TABLE observations ADD COLUMN observed_at timestamptz;
UPDATE observations SET observed_at = round_at WHERE observed_at IS NULL;
ALTER TABLE observations ALTER COLUMN observed_at SET NOT NULL;

-- since looks up the latest present or excused current observation of a resident by its
-- observed_at (absence_accounted_since); the release-1 index on round_at no longer serves it.
CREATE INDEX observations_resident_observed ON observations (resident, observed_at) WHERE current;
