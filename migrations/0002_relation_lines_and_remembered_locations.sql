-- Where each relation was declared, so a dangling reference can be reported
-- at its line after a streaming import; and locations usher remembers and
-- refreshes on a schedule, with the HTTP validators of what it fetched.

ALTER TABLE relations
    ADD COLUMN field text,
    ADD COLUMN line integer;

ALTER TABLE locations
    ADD COLUMN remembered      boolean NOT NULL DEFAULT false,
    ADD COLUMN added_by        text,
    ADD COLUMN schedule        text,
    ADD COLUMN next_refresh_at timestamptz,
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN lease_owner     text,
    ADD COLUMN last_error      text;

CREATE INDEX locations_due ON locations (next_refresh_at) WHERE remembered;

-- Conditional requests: the last ETag / Last-Modified of each URL and the
-- body it had, so an unchanged file costs a 304 and no parsing.
CREATE TABLE fetch_cache (
    url           text PRIMARY KEY,
    etag          text,
    last_modified text,
    body          text NOT NULL,
    fetched_at    timestamptz NOT NULL DEFAULT now()
);

-- What each file of a location contributed to its last import, so an
-- unchanged file is skipped on the next (see catalog::loader::FileMemo).
CREATE TABLE location_files (
    location_id bigint NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    file        text NOT NULL,
    memo        jsonb NOT NULL,
    PRIMARY KEY (location_id, file)
);
