-- Release 2: the missing-person profile (SPEC section 3a) and receipts confirmed by a person
-- (SPEC section 5, v2). Tables and seed data only; the code is in schema/code/profile.sql and
-- receipts.sql.

-- ---------------------------------------------------------------------------------------------
-- Profiles: every version kept; the current one is a resident's row with the highest id.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE resident_profiles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident bigint NOT NULL REFERENCES residents ON DELETE CASCADE,
    description text,
    photo bytea CHECK (octet_length(photo) BETWEEN 4 AND 524288),   -- a JPEG, at most 512 KiB
    photo_taken_on date,
    languages jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(languages) = 'array'),
    contacts jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(contacts) = 'array'),
    places jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(places) = 'array'),
    medical text,
    risks text,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL,
    CHECK ((photo IS NULL) = (photo_taken_on IS NULL))
);
CREATE INDEX resident_profiles_resident ON resident_profiles (resident, id);

-- Which profile fields an authority receives unless a centre says otherwise (SPEC section 3a:
-- data, not code). A centre's own choice is centre_authorities.profile_fields.
CREATE TABLE profile_field_defaults (
    kind text PRIMARY KEY CHECK (kind IN ('municipality', 'police', 'immigration')),
    fields text[] NOT NULL
        CHECK (fields <@ ARRAY['description', 'photo', 'languages', 'contacts', 'places',
                               'medical', 'risks']::text[])
);
INSERT INTO profile_field_defaults (kind, fields) VALUES
    ('police', '{description,photo,languages,contacts,places,risks}'),
    ('municipality', '{description,photo,languages,contacts,places,medical,risks}'),
    ('immigration', '{}');

-- NULL: the authority kind's defaults.
ALTER TABLE centre_authorities ADD COLUMN profile_fields text[]
    CHECK (profile_fields <@ ARRAY['description', 'photo', 'languages', 'contacts', 'places',
                                   'medical', 'risks']::text[]);

-- The body of an absence.reported delivery as first sent to its authority (the profile fields
-- it may see and the receipt_url): every retry sends these bytes' content again. NULL for
-- other types and before the first attempt; the outbox row's payload is then the body.
ALTER TABLE deliveries ADD COLUMN payload jsonb;

-- ---------------------------------------------------------------------------------------------
-- Receipts
-- ---------------------------------------------------------------------------------------------

-- Minutes after delivery within which an absence.reported must be confirmed by a person
-- (NULL: never checked). Existing centres get the default.
ALTER TABLE centres ADD COLUMN receipt_minutes integer DEFAULT 30
    CHECK (receipt_minutes BETWEEN 1 AND 10080);

-- One receipt per delivery: the primary key makes a second one impossible, however many
-- arrive at once.
CREATE TABLE notification_receipts (
    delivery bigint PRIMARY KEY REFERENCES deliveries,
    at timestamptz NOT NULL,
    received_by text NOT NULL CHECK (length(received_by) BETWEEN 1 AND 200),
    reference text CHECK (length(reference) <= 200),
    recorded_by text NOT NULL
);

-- The notification_unconfirmed alert of a delivery, once raised (resolved by its receipt).
ALTER TABLE deliveries ADD COLUMN unconfirmed_alert bigint REFERENCES alerts;
-- "Once" whatever retries or instances decide it: one such alert per delivery's event id.
CREATE UNIQUE INDEX alerts_once_per_unconfirmed_event ON alerts ((details->>'event_id'))
    WHERE kind = 'notification_unconfirmed';
