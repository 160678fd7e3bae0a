-- The missing-person profile (SPEC section 3a): GET/PUT /v1/residents/{id}/profile with its
-- history, the part of it each authority may receive in absence.reported, and its section of the
-- resident's export. Every version is a row of resident_profiles; the current one is the last.
-- Re-applied whole by rollcalld --migrate whenever the code layer changes (docs/DESIGN.md).

-- The field names a recipient rule uses, in the order bodies show them.
CREATE FUNCTION profile_field_names() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['description', 'photo', 'languages', 'contacts', 'places', 'medical', 'risks']
$$;

-- The resident's current profile (NULL columns when there is none).
CREATE FUNCTION profile_current(p_resident bigint) RETURNS resident_profiles
LANGUAGE sql STABLE AS $$
    SELECT * FROM resident_profiles p WHERE p.resident = p_resident ORDER BY p.id DESC LIMIT 1
$$;

-- Whether the resident has a profile: a version was ever stored (the shift handover lists
-- residents without one, SPEC section 4a; docs/decisions.md).
CREATE FUNCTION resident_has_profile(p_resident bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM resident_profiles p WHERE p.resident = p_resident)
$$;

-- The date the current profile's photo was taken (NULL: no profile or no photo), for the
-- handover's "photo older than 90 days".
CREATE FUNCTION resident_photo_taken_on(p_resident bigint) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (profile_current(p_resident)).photo_taken_on
$$;

-- A profile as the API shows it. A resident without one has every field empty and updated_at
-- null (docs/decisions.md: "has a profile" means a version was ever stored).
CREATE FUNCTION profile_json(p_p resident_profiles) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'description', p_p.description,
        'photo_jpeg_base64', CASE WHEN p_p.photo IS NOT NULL
                                  THEN translate(encode(p_p.photo, 'base64'), E'\n', '') END,
        'photo_taken_on', p_p.photo_taken_on,
        'languages', coalesce(p_p.languages, '[]'),
        'contacts', coalesce(p_p.contacts, '[]'),
        'places', coalesce(p_p.places, '[]'),
        'medical', p_p.medical,
        'risks', p_p.risks,
        'updated_at', p_p.updated_at)
$$;

-- A version in the history: the profile with who stored it.
CREATE FUNCTION profile_version_json(p_p resident_profiles) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT profile_json(p_p) || jsonb_build_object('version', p_p.id, 'updated_by', p_p.updated_by)
$$;

-- Earlier versions than the current one, newest first.
CREATE FUNCTION profile_history_json(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(profile_version_json(p) ORDER BY p.id DESC), '[]'::jsonb)
      FROM resident_profiles p
     WHERE p.resident = p_resident
       AND p.id < (SELECT max(c.id) FROM resident_profiles c WHERE c.resident = p_resident)
$$;

-- The profile fields authority p_kind of centre p_centre receives, in profile_field_names()
-- order: the centre's choice, else the kind's default, else none.
CREATE FUNCTION profile_fields_for(p_centre text, p_kind text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(
        SELECT u.f FROM unnest(profile_field_names()) WITH ORDINALITY AS u(f, o)
         WHERE u.f = ANY (coalesce(
                   (SELECT ca.profile_fields FROM centre_authorities ca
                     WHERE ca.centre = p_centre AND ca.kind = p_kind),
                   (SELECT d.fields FROM profile_field_defaults d WHERE d.kind = p_kind),
                   '{}'))
         ORDER BY u.o)
$$;

-- The "profile" of an absence.reported body for one authority: only the fields it may receive
-- (a field it may receive but that is empty is shown empty), with updated_at. NULL when the
-- resident has no profile or the authority may receive none of it: the body then has no
-- "profile" at all.
CREATE FUNCTION profile_for_authority(p_resident bigint, p_centre text, p_kind text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    p resident_profiles := profile_current(p_resident);
    fields text[] := profile_fields_for(p_centre, p_kind);
    full_ jsonb;
    result jsonb := '{}';
    f text;
BEGIN
    IF p.id IS NULL OR cardinality(fields) = 0 THEN
        RETURN NULL;
    END IF;
    full_ := profile_json(p);
    FOREACH f IN ARRAY profile_field_names() LOOP
        CONTINUE WHEN NOT f = ANY (fields);
        IF f = 'photo' THEN
            result := result || jsonb_build_object(
                'photo_jpeg_base64', full_->'photo_jpeg_base64',
                'photo_taken_on', full_->'photo_taken_on');
        ELSE
            result := result || jsonb_build_object(f, full_->f);
        END IF;
    END LOOP;
    RETURN result || jsonb_build_object('updated_at', full_->'updated_at');
END $$;

-- ---------------------------------------------------------------------------------------------
-- Reading a PUT body (the C route has checked the JSON types; lengths, forms and the photo are
-- checked here, each refusal naming its field)
-- ---------------------------------------------------------------------------------------------

-- An optional free text: null or absent is NULL; a blank one is refused.
CREATE FUNCTION profile_text_arg(p_b jsonb, p_name text, p_max int) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_b->p_name IS NULL OR jsonb_typeof(p_b->p_name) = 'null' THEN
        RETURN NULL;
    END IF;
    RETURN arg_text(p_b, p_name, p_max);
END $$;

-- A list of short texts (languages, places): each 1 to p_max characters and not blank.
CREATE FUNCTION profile_list_arg(p_b jsonb, p_name text, p_max int) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    element jsonb;
    position bigint;
BEGIN
    IF p_b->p_name IS NULL OR jsonb_typeof(p_b->p_name) = 'null' THEN
        RETURN '[]';
    END IF;
    IF jsonb_typeof(p_b->p_name) <> 'array' THEN
        PERFORM fail(400, 'bad_field', p_name || ' must be an array of strings', p_name);
    END IF;
    FOR element, position IN
        SELECT e, i - 1 FROM jsonb_array_elements(p_b->p_name) WITH ORDINALITY AS t(e, i)
    LOOP
        IF jsonb_typeof(element) <> 'string' OR length(btrim(element #>> '{}')) = 0
           OR length(element #>> '{}') > p_max THEN
            PERFORM fail(400, 'bad_field',
                         format('%s[%s] must be a text of 1 to %s characters', p_name, position,
                                p_max),
                         format('%s[%s]', p_name, position));
        END IF;
    END LOOP;
    RETURN p_b->p_name;
END $$;

-- contacts: [{"name","relation","phone"}], each part required; a phone is digits with an
-- optional leading +, spaces, hyphens and parentheses, 4 to 20 digits in all.
CREATE FUNCTION profile_contacts_arg(p_b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    element jsonb;
    position bigint;
    prefix text;
    phone text;
    result jsonb := '[]';
BEGIN
    IF p_b->'contacts' IS NULL OR jsonb_typeof(p_b->'contacts') = 'null' THEN
        RETURN '[]';
    END IF;
    IF jsonb_typeof(p_b->'contacts') <> 'array' THEN
        PERFORM fail(400, 'bad_field', 'contacts must be an array', 'contacts');
    END IF;
    FOR element, position IN
        SELECT e, i - 1 FROM jsonb_array_elements(p_b->'contacts') WITH ORDINALITY AS t(e, i)
    LOOP
        prefix := format('contacts[%s].', position);
        IF jsonb_typeof(element) <> 'object' THEN
            PERFORM fail(400, 'bad_field', 'a contact must be an object',
                         format('contacts[%s]', position));
        END IF;
        PERFORM arg_required(element, 'name', prefix);
        PERFORM arg_text(element, 'name', 200, prefix);
        PERFORM arg_required(element, 'relation', prefix);
        PERFORM arg_text(element, 'relation', 100, prefix);
        phone := arg_required(element, 'phone', prefix);
        IF jsonb_typeof(element->'phone') <> 'string'
           OR phone !~ '^\+?[0-9 ()-]+$'
           OR length(regexp_replace(phone, '[^0-9]', '', 'g')) NOT BETWEEN 4 AND 20
           OR length(phone) > 30 THEN
            PERFORM fail(400, 'bad_field',
                         prefix || 'phone must be a phone number: digits, an optional leading +, '
                         'spaces, hyphens or parentheses (4 to 20 digits)',
                         prefix || 'phone');
        END IF;
        result := result || jsonb_build_array(jsonb_build_object(
            'name', element->'name', 'relation', element->'relation', 'phone', element->'phone'));
    END LOOP;
    RETURN result;
END $$;

-- photo_jpeg_base64: standard padded base64 of a JPEG (starts FF D8, ends FF D9) of at most
-- 512 KiB decoded. Not base64 or not a JPEG is 400, larger is 413, each naming the field.
CREATE FUNCTION profile_photo_arg(p_b jsonb) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    encoded text;
    photo bytea;
    n int;
BEGIN
    IF p_b->'photo_jpeg_base64' IS NULL OR jsonb_typeof(p_b->'photo_jpeg_base64') = 'null' THEN
        RETURN NULL;
    END IF;
    encoded := p_b->>'photo_jpeg_base64';
    IF jsonb_typeof(p_b->'photo_jpeg_base64') <> 'string' OR length(encoded) = 0
       OR length(encoded) % 4 <> 0 OR encoded !~ '^[A-Za-z0-9+/]*(==|=)?$' THEN
        PERFORM fail(400, 'bad_field', 'photo_jpeg_base64 must be standard padded base64',
                     'photo_jpeg_base64');
    END IF;
    -- The decoded size follows from the length: refuse before decoding a huge one.
    IF length(encoded) / 4 * 3 - length(encoded) + length(rtrim(encoded, '=')) > 524288 THEN
        PERFORM fail(413, 'too_large', 'the photo must be at most 512 KiB (524288 bytes)',
                     'photo_jpeg_base64');
    END IF;
    photo := decode(encoded, 'base64');
    n := length(photo);
    IF n < 4 OR get_byte(photo, 0) <> 255 OR get_byte(photo, 1) <> 216
       OR get_byte(photo, n - 2) <> 255 OR get_byte(photo, n - 1) <> 217 THEN
        PERFORM fail(400, 'bad_field',
                     'photo_jpeg_base64 is not a JPEG (it must start FF D8 and end FF D9)',
                     'photo_jpeg_base64');
    END IF;
    RETURN photo;
EXCEPTION
    WHEN invalid_parameter_value THEN
        PERFORM fail(400, 'bad_field', 'photo_jpeg_base64 must be standard padded base64',
                     'photo_jpeg_base64');
        RETURN NULL;
END $$;

-- The new version a PUT body describes (not yet stored). A PUT replaces the whole profile: a
-- field left out is empty in the new version. updated_at in the body is ignored (a GET's answer
-- may be sent back as it is).
CREATE FUNCTION profile_from_body(ctx jsonb, p_resident bigint, p_b jsonb)
RETURNS resident_profiles LANGUAGE plpgsql STABLE AS $$
DECLARE
    p resident_profiles;
    today date := resident_today(p_resident, ctx_now(ctx));
BEGIN
    p.resident := p_resident;
    p.description := profile_text_arg(p_b, 'description', 4000);
    p.photo := profile_photo_arg(p_b);
    p.photo_taken_on := arg_date(CASE WHEN jsonb_typeof(p_b->'photo_taken_on') = 'string'
                                      THEN p_b->>'photo_taken_on' END, 'photo_taken_on');
    IF p_b ? 'photo_taken_on' AND jsonb_typeof(p_b->'photo_taken_on') NOT IN ('string', 'null')
    THEN
        PERFORM fail(400, 'bad_field', 'photo_taken_on must be a date (YYYY-MM-DD)',
                     'photo_taken_on');
    END IF;
    IF p.photo IS NOT NULL AND p.photo_taken_on IS NULL THEN
        PERFORM fail(400, 'missing_field', 'photo_taken_on is required with a photo',
                     'photo_taken_on');
    END IF;
    IF p.photo IS NULL AND p.photo_taken_on IS NOT NULL THEN
        PERFORM fail(400, 'bad_field', 'photo_taken_on is the date of a photo; there is none',
                     'photo_taken_on');
    END IF;
    IF p.photo_taken_on > today THEN
        PERFORM fail(400, 'bad_field',
                     format('photo_taken_on %s is in the future (today is %s)',
                            p.photo_taken_on, today),
                     'photo_taken_on');
    END IF;
    p.languages := profile_list_arg(p_b, 'languages', 100);
    p.contacts := profile_contacts_arg(p_b);
    p.places := profile_list_arg(p_b, 'places', 500);
    p.medical := profile_text_arg(p_b, 'medical', 4000);
    p.risks := profile_text_arg(p_b, 'risks', 4000);
    p.updated_at := ctx_now(ctx);
    p.updated_by := ctx->>'cn';
    RETURN p;
END $$;

-- ---------------------------------------------------------------------------------------------
-- GET/PUT /v1/residents/{id}/profile (staff+ of the resident's centre)
-- ---------------------------------------------------------------------------------------------

-- GET: the current profile; ?history=true adds "history", the earlier versions newest first.
-- Audited as a read of the resident's data.
CREATE FUNCTION op_resident_profile_get(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    with_history boolean := coalesce(args->'query'->>'history', 'false') = 'true';
    result jsonb := profile_json(profile_current(r.id));
BEGIN
    PERFORM audit(ctx, 'resident_profile_get', r.id,
                  jsonb_build_object('history', with_history));
    IF with_history THEN
        result := result || jsonb_build_object('history', profile_history_json(r.id));
    END IF;
    RETURN QUERY SELECT 200, result;
END $$;

-- PUT: stores a new version (the previous one stays in the history) and answers it. Audited
-- with the names of the fields that are not empty, never their content.
CREATE FUNCTION op_resident_profile_put(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r residents := require_resident(ctx, args);
    p resident_profiles := profile_from_body(ctx, r.id, coalesce(args->'body', '{}'));
    given jsonb;
BEGIN
    INSERT INTO resident_profiles (resident, description, photo, photo_taken_on, languages,
                                   contacts, places, medical, risks, updated_at, updated_by)
    VALUES (p.resident, p.description, p.photo, p.photo_taken_on, p.languages, p.contacts,
            p.places, p.medical, p.risks, p.updated_at, p.updated_by)
    RETURNING * INTO p;
    SELECT coalesce(jsonb_agg(f ORDER BY o), '[]') INTO given
      FROM unnest(profile_field_names()) WITH ORDINALITY AS u(f, o)
     WHERE CASE f WHEN 'description' THEN p.description IS NOT NULL
                  WHEN 'photo' THEN p.photo IS NOT NULL
                  WHEN 'languages' THEN jsonb_array_length(p.languages) > 0
                  WHEN 'contacts' THEN jsonb_array_length(p.contacts) > 0
                  WHEN 'places' THEN jsonb_array_length(p.places) > 0
                  WHEN 'medical' THEN p.medical IS NOT NULL
                  ELSE p.risks IS NOT NULL END;
    PERFORM audit(ctx, 'resident_profile_put', r.id,
                  jsonb_build_object('version', p.id, 'fields', given));
    RETURN QUERY SELECT 200, profile_json(p);
END $$;

-- The resident's export (op_resident_export gathers every export_section_*): the current
-- profile and every earlier version with who stored it.
CREATE FUNCTION export_section_profile(p_resident bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'current', CASE WHEN resident_has_profile(p_resident)
                        THEN profile_version_json(profile_current(p_resident)) END,
        'history', profile_history_json(p_resident))
$$;
