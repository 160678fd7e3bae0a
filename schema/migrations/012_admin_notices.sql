-- Release 2: e-mail to the admins (the admin_email key) before a certificate, the client CA or
-- the CRL expires (daemon/admin_mail.c). One row per notice and day of the daemon's clock, so
-- that the mail goes once a day whichever instance sees the file and however often the daemon
-- restarts; notice names the file and its instant ("tls_crl:1765000000"), so instances with
-- their own certificates each send theirs, and instances sharing one send it once.
CREATE TABLE admin_notices (
    notice text NOT NULL CHECK (notice ~ '^[a-z_]+:-?[0-9]+$'),
    day date NOT NULL,
    event_id text NOT NULL UNIQUE CHECK (event_id ~ '^evt_[0-9a-f]{32}$'),
    claimed_at timestamptz,             -- wall clock: an instance is sending it (a lease)
    sent_at timestamptz,                -- wall clock: the relay accepted it
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text,
    PRIMARY KEY (notice, day)
);
