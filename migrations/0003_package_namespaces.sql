-- Package namespaces (a Maven group, an npm scope), so `dep:` can match
-- `org.apache.logging.log4j/log4j-core` as well as `log4j-core`.
ALTER TABLE packages ADD COLUMN namespace text;

-- `search` matches words in descriptions too.
CREATE INDEX entities_description_trgm ON entities USING gin (lower(description) gin_trgm_ops)
    WHERE description IS NOT NULL;
