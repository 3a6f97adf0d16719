-- The catalog, the outbox and the audit log.
--
-- Forward-only, expand-then-contract: a migration never breaks the version
-- that is still serving (see ARCHITECTURE.md).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Where descriptors come from: a file, a folder or (later) a URL given to
-- `catalog import`, or remembered in usher.toml.
CREATE TABLE locations (
    id              bigserial PRIMARY KEY,
    target          text NOT NULL UNIQUE,
    kind            text NOT NULL CHECK (kind IN ('file', 'dir', 'url', 'demo')),
    owner_ref       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    refreshed_at    timestamptz,
    last_outcome    jsonb
);

-- Every Backstage entity (Component, API, Resource, System, Domain, Group,
-- User, Location, Template). The fields usher reads are typed columns; the
-- rest is kept verbatim in `raw`.
CREATE TABLE entities (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,          -- lower case: component, api, group …
    namespace       text NOT NULL DEFAULT 'default',
    name            text NOT NULL,
    -- "kind:namespace/name", lower case: names are unique per kind and
    -- namespace case-insensitively, as in Backstage.
    ref             text GENERATED ALWAYS AS (lower(kind || ':' || namespace || '/' || name)) STORED,
    title           text,
    description     text,
    spec_type       text,
    lifecycle       text,
    owner_ref       text,
    system_ref      text,
    domain_ref      text,
    parent_ref      text,
    tier            text,
    language        text,
    framework       text,
    -- well-known annotations usher acts on
    techdocs_ref    text,
    source_location text,
    github_slug     text,
    pagerduty_service_id     text,
    pagerduty_integration_key text,
    opsgenie_team   text,
    opsgenie_component_selector text,
    slack_channel   text,
    discord_channel text,
    -- people and teams
    email           text,
    display_name    text,
    slack_user_id   text,
    discord_user_id text,
    lead_ref        text,
    active          boolean NOT NULL DEFAULT true,
    -- verbatim Backstage data: the whole document (after substitutions) in
    -- `raw`; annotations and tags also on their own, for queries
    annotations     jsonb NOT NULL DEFAULT '{}',
    tags            text[] NOT NULL DEFAULT '{}',
    raw             jsonb NOT NULL,
    -- provenance
    origin          text NOT NULL DEFAULT 'location' CHECK (origin IN ('location', 'chat')),
    location_id     bigint REFERENCES locations (id) ON DELETE SET NULL,
    source_file     text,
    source_line     integer,
    content_hash    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz
);

CREATE UNIQUE INDEX entities_ref ON entities (ref);
CREATE INDEX entities_lower_name ON entities (lower(name), kind);
CREATE INDEX entities_lower_title ON entities (lower(title)) WHERE title IS NOT NULL;
CREATE INDEX entities_owner ON entities (owner_ref);
CREATE INDEX entities_system ON entities (system_ref);
CREATE INDEX entities_location ON entities (location_id);
CREATE INDEX entities_email ON entities (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX entities_slack_user ON entities (slack_user_id) WHERE slack_user_id IS NOT NULL;
CREATE INDEX entities_discord_user ON entities (discord_user_id) WHERE discord_user_id IS NOT NULL;
CREATE INDEX entities_name_trgm ON entities USING gin (lower(name) gin_trgm_ops);
CREATE INDEX entities_title_trgm ON entities USING gin (lower(title) gin_trgm_ops) WHERE title IS NOT NULL;
CREATE INDEX entities_tags ON entities USING gin (tags);

-- Relations as declared: ownedBy, partOf, dependsOn, dependencyOf,
-- providesApi, consumesApi, memberOf, hasMember, childOf, parentOf.
-- Targets are refs, resolved by joining on entities.ref, so a relation to
-- an entity imported later resolves by itself.
-- Each (source, type, target) once: the import de-duplicates, which spares
-- a wide unique index.
CREATE TABLE relations (
    source_id   bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    type        text NOT NULL,
    target_ref  text NOT NULL
);
CREATE INDEX relations_source ON relations (source_id);
CREATE INDEX relations_target ON relations (target_ref, type);

-- Links, classified so usher can answer "where is the runbook?".
CREATE TABLE links (
    entity_id   bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    category    text NOT NULL CHECK (category IN ('docs', 'runbook', 'dashboard', 'repository', 'api', 'chat', 'other')),
    title       text,
    url         text NOT NULL,
    icon        text,
    PRIMARY KEY (entity_id, position)
);

-- Library packages a service uses (filled from SBOMs).
CREATE TABLE packages (
    entity_id   bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    source      text NOT NULL,
    ecosystem   text NOT NULL,
    name        text NOT NULL,
    version     text NOT NULL,
    purl        text
);
CREATE INDEX packages_lookup ON packages (ecosystem, lower(name));
CREATE INDEX packages_name ON packages (lower(name));
CREATE INDEX packages_entity ON packages (entity_id, source);

-- Problems found importing a location; fixed problems disappear on the
-- next import of that location.
CREATE TABLE import_problems (
    id          bigserial PRIMARY KEY,
    location_id bigint NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    file        text NOT NULL,
    line        integer,
    entity_ref  text,
    owner_ref   text,
    field       text NOT NULL,
    message     text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('error', 'warning')),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX import_problems_identity
    ON import_problems (location_id, file, coalesce(entity_ref, ''), field, message);
CREATE INDEX import_problems_owner ON import_problems (owner_ref);

-- Who changed what, when: imports, chat edits, pages, notifications.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    subject     text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log (subject, at);

-- The durable queue of outbound side effects. Rows are written in the same
-- transaction as the change that causes them; the idempotency key makes a
-- second enqueue of the same effect a no-op, and done rows are kept (then
-- pruned) so the key keeps working after delivery.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    destination     text NOT NULL,
    payload         jsonb NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 8,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    admin_reported  boolean NOT NULL DEFAULT false
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (updated_at) WHERE state = 'dead';

-- Every committed change to the entities tells every usher process, so
-- in-memory indexes (catalog::names) are rebuilt. NOTIFY is delivered at
-- commit, and once per transaction for the same payload.
CREATE FUNCTION notify_catalog_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('usher_catalog', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER entities_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON entities
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
