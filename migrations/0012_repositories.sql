-- Discovery: a row per repository a source has, catalogued or not. A
-- repository without a descriptor carries its likely owner (a catalog
-- team) and the evidence for it; one no longer in its source is marked
-- gone, not deleted, so its history and evidence stay.
CREATE TABLE repositories (
    id             bigserial PRIMARY KEY,
    source         text NOT NULL,            -- 'path:/srv/clones', 'github:acme'
    name           text NOT NULL,            -- within the source: 'payments-api', 'acme/payments-api'
    remote_id      text,                     -- the host's id (GitHub's node id): a renamed repository stays one row
    url            text NOT NULL,            -- without credentials
    default_branch text,
    head           text,                     -- the default branch's commit last read
    pushed_at      timestamptz,
    archived       boolean NOT NULL DEFAULT false,
    fork           boolean NOT NULL DEFAULT false,
    visibility     text,                     -- public, private, internal (where the host says)
    languages      text[] NOT NULL DEFAULT '{}',
    topics         text[] NOT NULL DEFAULT '{}',
    descriptors    text[] NOT NULL DEFAULT '{}',
    location_id    bigint REFERENCES locations(id) ON DELETE SET NULL,
    owner_ref      text,                     -- likely owner, for one without a descriptor
    owner_evidence text,                     -- why it is the likely owner, or why there is none
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    scanned_at     timestamptz NOT NULL DEFAULT now(),
    gone_at        timestamptz,
    UNIQUE (source, name)
);
CREATE UNIQUE INDEX repositories_by_remote_id ON repositories (source, remote_id) WHERE remote_id IS NOT NULL;
CREATE INDEX repositories_by_owner ON repositories (owner_ref) WHERE owner_ref IS NOT NULL;

-- A scan changes answers (`repos`, `stats coverage`) like a catalog change
-- does: kept answers end with it.
CREATE TRIGGER repositories_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON repositories
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
