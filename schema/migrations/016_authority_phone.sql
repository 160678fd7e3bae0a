-- Release 2: an authority's phone number per centre (issue 15, defect 7). When a notification
-- cannot be delivered (notification_failing) or is not confirmed (notification_unconfirmed),
-- staff must phone that authority: the client shows this number with the alert. Optional, as
-- free text in the form people dial ("+45 72 58 14 48"); existing rows have none.
ALTER TABLE centre_authorities ADD COLUMN phone text
    CHECK (phone IS NULL OR phone ~ '^\+?[0-9][0-9 ()-]{2,39}$');
