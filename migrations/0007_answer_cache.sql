-- Answers kept in memory (commands/cache.rs) end with the next change that
-- could alter them; these notifications tell every usher process what changed.

-- On-call rotations change answers too (owner, oncall): changing one tells
-- every usher process, like a catalog change does.
CREATE TRIGGER rotations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rotations
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
CREATE TRIGGER rotation_overrides_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rotation_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();

-- Changes say what changed, so in-memory answers that didn't read it can
-- stay: `u:<ids>` when only services, APIs or resources were updated in
-- place (at most 1000 of them), `*` for anything else (entities added or
-- removed, people or teams changed, a name changed). Statements that
-- change no row notify nothing.
CREATE FUNCTION notify_entities_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify('usher_catalog', '*');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_entities_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM pg_notify('usher_catalog', '*');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_entities_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint[];
BEGIN
    SELECT array_agg(id) INTO changed FROM (SELECT id FROM new_rows LIMIT 1001) c;
    IF changed IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(changed) > 1000
       OR EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
                  WHERE n.kind NOT IN ('component', 'api', 'resource')
                     OR (o.kind, o.namespace, o.name) IS DISTINCT FROM (n.kind, n.namespace, n.name)) THEN
        PERFORM pg_notify('usher_catalog', '*');
    ELSE
        PERFORM pg_notify('usher_catalog', 'u:' || array_to_string(changed, ','));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER entities_changed ON entities;
CREATE TRIGGER entities_inserted AFTER INSERT ON entities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_entities_inserted();
CREATE TRIGGER entities_updated AFTER UPDATE ON entities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_entities_updated();
CREATE TRIGGER entities_deleted AFTER DELETE ON entities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_entities_deleted();
CREATE TRIGGER entities_truncated AFTER TRUNCATE ON entities
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();

-- Packages from an SBOM file change `search dep:` answers without touching
-- the entity row: they tell which entities' packages changed.
CREATE FUNCTION notify_packages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint[];
BEGIN
    SELECT array_agg(entity_id) INTO changed
      FROM (SELECT DISTINCT entity_id FROM changed_rows LIMIT 1001) c;
    IF changed IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(changed) > 1000 THEN
        PERFORM pg_notify('usher_catalog', '*');
    ELSE
        PERFORM pg_notify('usher_catalog', 'u:' || array_to_string(changed, ','));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER packages_inserted AFTER INSERT ON packages
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_packages_changed();
CREATE TRIGGER packages_deleted AFTER DELETE ON packages
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_packages_changed();
CREATE TRIGGER packages_updated AFTER UPDATE ON packages
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_packages_changed();
CREATE TRIGGER packages_truncated AFTER TRUNCATE ON packages
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_change();
