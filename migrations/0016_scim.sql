-- What identity providers push over SCIM 2.0: Users and Groups as they
-- sent them (a Group's members inside it), with a version for ETags. A
-- deleted resource is hidden from SCIM but kept (`deleted_at`), so the
-- person's history stays and the catalog can mark them inactive.
CREATE TABLE scim_resources (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    resource_type text NOT NULL CHECK (resource_type IN ('User', 'Group')),
    name          text NOT NULL,            -- userName, or a Group's displayName
    external_id   text,
    active        boolean NOT NULL DEFAULT true,
    data          jsonb NOT NULL,           -- the resource without id and meta
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    modified_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX scim_resources_name ON scim_resources (resource_type, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX scim_resources_external_id ON scim_resources (resource_type, external_id) WHERE external_id IS NOT NULL;
