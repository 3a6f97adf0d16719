-- What people said about a repository discovery found: whose it is (a
-- scan no longer overwrites an owner a person set or refused), that it
-- isn't a service (a library, an archive, an experiment: never asked about
-- again), and the pull/merge request that describes it.
ALTER TABLE repositories
    ADD COLUMN owner_decided_by text,        -- who set (or refused) the likely owner; scans keep it
    ADD COLUMN dismissed text CHECK (dismissed IN ('library', 'archive', 'experiment', 'other')),
    ADD COLUMN dismissed_by text,
    ADD COLUMN dismissed_at timestamptz,
    ADD COLUMN proposal_url text;            -- the pull/merge request adding its catalog-info.yaml
