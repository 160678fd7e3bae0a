-- Open connections and alert streams: what the daemon needs to end them when an account changes
-- (SPEC section 8, v2: a disabled account stops being served on connections already open).
-- A change of an account or of its centres is announced on NOTIFY rc_account with the account's
-- cn; each daemon then reads account_scope() and ends what the account may no longer have, and
-- records each connection or stream it ends with audit_connection_closed().

CREATE FUNCTION account_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit, once per distinct cn per transaction (NOTIFY folds duplicates).
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('rc_account', OLD.cn);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM pg_notify('rc_account', NEW.cn);
    END IF;
    RETURN NULL;
END $$;

-- accounts: disabled, role, authority, a rename; account_centres: a centre given or taken away.
CREATE TRIGGER accounts_changed_notify AFTER UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION account_changed_notify();

CREATE TRIGGER account_centres_changed_notify AFTER INSERT OR UPDATE OR DELETE ON account_centres
    FOR EACH ROW EXECUTE FUNCTION account_changed_notify();

-- What the account p_cn may have open now: {"active", "role", "all_centres", "centres"}.
-- active is false for an account that no longer exists (renamed or removed) or is disabled.
CREATE FUNCTION account_scope(p_cn text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'active', coalesce(NOT a.disabled, false),
        'role', a.role,
        'all_centres', coalesce(a.role = 'admin', false),
        'centres', coalesce((SELECT jsonb_agg(ac.centre ORDER BY ac.centre)
                             FROM account_centres ac WHERE ac.cn = p_cn), '[]'::jsonb))
    FROM (SELECT p_cn AS cn) AS asked
    LEFT JOIN accounts a ON a.cn = asked.cn
$$;

-- One audit row for a connection or alert stream the daemon ended, or a request it refused,
-- because the certificate was revoked or the account changed. p_detail names the reason and,
-- for a stream, its centre.
CREATE FUNCTION audit_connection_closed(p_at timestamptz, p_cn text, p_remote text,
                                        p_action text, p_outcome text, p_detail jsonb)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome, detail)
    VALUES (p_at, p_cn, (SELECT a.role FROM accounts a WHERE a.cn = p_cn), p_action, NULL,
            NULL, nullif(p_remote, ''), p_outcome, p_detail)
$$;
