-- Package namespaces (a Maven group, an npm scope), so `dep:` can match
-- `org.apache.logging.log4j/log4j-core` as well as `log4j-core`.
ALTER TABLE packages ADD COLUMN namespace text;

-- `search` matches words in descriptions too.
CREATE INDEX entities_description_trgm ON entities USING gin (lower(description) gin_trgm_ops)
    WHERE description IS NOT NULL;

-- Search filters on the fields people filter by most.
CREATE INDEX entities_language ON entities (language) WHERE language IS NOT NULL;
CREATE INDEX entities_tier ON entities (tier) WHERE tier IS NOT NULL;
CREATE INDEX entities_lifecycle ON entities (lifecycle) WHERE lifecycle IS NOT NULL;
