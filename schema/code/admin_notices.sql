-- The admins' expiry e-mails (daemon/admin_mail.c, table admin_notices): an instance claims a
-- notice of the day before it sends it, and records the outcome. Leases are on the wall clock
-- (like the outbox's): they guard against two live instances, not against the test clock.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- True when the caller is to send notice p_notice of day p_day now: it was never claimed, or
-- its last claim failed or is older than five minutes (the sender died), and it is not sent.
CREATE FUNCTION admin_notice_claim(p_notice text, p_day date, p_event_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_claimed boolean;
BEGIN
    INSERT INTO admin_notices (notice, day, event_id, claimed_at, attempts)
    VALUES (p_notice, p_day, p_event_id, clock_timestamp(), 1)
    ON CONFLICT (notice, day) DO UPDATE
        SET claimed_at = clock_timestamp(), attempts = admin_notices.attempts + 1
        WHERE admin_notices.sent_at IS NULL
          AND (admin_notices.claimed_at IS NULL
               OR admin_notices.claimed_at < clock_timestamp() - interval '5 minutes')
    RETURNING true INTO v_claimed;
    RETURN coalesce(v_claimed, false);
END;
$$;

-- The outcome of a claimed notice: sent (p_error null), or failed and free to claim again.
CREATE FUNCTION admin_notice_done(p_notice text, p_day date, p_error text) RETURNS void
LANGUAGE sql AS $$
    UPDATE admin_notices
    SET sent_at = CASE WHEN p_error IS NULL THEN clock_timestamp() END,
        claimed_at = CASE WHEN p_error IS NULL THEN claimed_at END,
        last_error = coalesce(p_error, last_error)
    WHERE notice = p_notice AND day = p_day AND sent_at IS NULL
$$;
