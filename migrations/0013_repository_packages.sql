-- Dependencies of the repositories discovery found, read from their
-- manifests and lockfiles (or the host's dependency graph), so `search
-- dep:` covers repositories nobody catalogued. Replaced whole each time a
-- repository's default branch moves.
CREATE TABLE repository_packages (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    file          text NOT NULL,             -- 'package-lock.json', 'svc/pom.xml', 'dependency-graph'
    ecosystem     text NOT NULL,
    namespace     text,
    name          text NOT NULL,
    version       text NOT NULL
);
CREATE INDEX repository_packages_name ON repository_packages (lower(name));
CREATE INDEX repository_packages_repository ON repository_packages (repository_id);

-- Manifests that couldn't be read, and why ('yarn.lock: is not valid YAML (…)').
ALTER TABLE repositories ADD COLUMN dependency_notes text[] NOT NULL DEFAULT '{}';
