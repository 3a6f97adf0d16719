-- The directory's people and teams come from several sources now (SCIM
-- and LDAP servers), imported together as one location.
UPDATE locations SET target = 'directory' WHERE target = 'scim:directory';

-- What each LDAP source gave the last time it was read (people and
-- groups as JSON), and the last failure: a server that can't be reached
-- keeps its last good read, so nobody is removed because of an outage.
CREATE TABLE directory_sources (
    source     text PRIMARY KEY,
    data       jsonb NOT NULL DEFAULT '{"people": [], "groups": []}',
    people     integer NOT NULL DEFAULT 0,
    groups     integer NOT NULL DEFAULT 0,
    read_at    timestamptz,
    error      text,
    error_at   timestamptz
);
