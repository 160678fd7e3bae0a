-- Release 2: the last instant staff knew a resident was at the centre when the record was made
-- (go-live: the instant of that count). Takes part in an absence's `since` (SPEC sections 1, 3).
ALTER TABLE residents ADD COLUMN accounted_for_at timestamptz;
