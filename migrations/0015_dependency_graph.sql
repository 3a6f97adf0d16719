-- The default-branch commit whose dependency graph (GitHub's SBOM) was
-- read, so each is read once per push, and a repository without one
-- (disabled, empty) isn't asked again until it moves.
ALTER TABLE repositories ADD COLUMN sbom_head text;
