-- partnermatch schema, version 4: the bodies a school belongs to — its
-- trust, federation and diocese — each by the publisher's code and a name.
-- NULL code: the school belongs to no such body (or none is known); the
-- name is then NULL too.
ALTER TABLE schools ADD COLUMN trust_code TEXT;
ALTER TABLE schools ADD COLUMN trust_name TEXT;
ALTER TABLE schools ADD COLUMN federation_code TEXT;
ALTER TABLE schools ADD COLUMN federation_name TEXT;
ALTER TABLE schools ADD COLUMN diocese_code TEXT;
ALTER TABLE schools ADD COLUMN diocese_name TEXT;
