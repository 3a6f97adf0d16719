-- Catalog hygiene: what was reported to whom and when (a finding isn't
-- repeated within hygiene.repeat_days), and one row per team per round
-- (the round's claim: two processes make one digest).
CREATE TABLE hygiene_reported (
    subject          text NOT NULL,   -- the service's name, or the file
    rule             text NOT NULL,
    team_ref         text NOT NULL,
    last_reported_at timestamptz NOT NULL,
    PRIMARY KEY (subject, rule, team_ref)
);

CREATE TABLE hygiene_digests (
    team_ref      text NOT NULL,
    round         text NOT NULL,
    findings_hash text NOT NULL,
    findings      integer NOT NULL,
    destination   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_ref, round)
);
CREATE INDEX hygiene_digests_latest ON hygiene_digests (team_ref, created_at DESC);

-- Findings set aside by the owners: snoozed until a time, or "doesn't
-- apply" (until NULL) until withdrawn; with who and why.
CREATE TABLE hygiene_suppressions (
    service_id bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    rule       text NOT NULL,
    until      timestamptz,
    reason     text NOT NULL,
    by_person  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, rule)
);

-- How many digests in a row carried a finding, and when its team's lead
-- (or parent team) was told it is being ignored.
ALTER TABLE hygiene_reported ADD COLUMN times integer NOT NULL DEFAULT 1;
ALTER TABLE hygiene_reported ADD COLUMN escalated_at timestamptz;

-- Pull requests usher opened with a fix for a described service.
CREATE TABLE hygiene_proposals (
    service_ref text NOT NULL,
    field       text NOT NULL,
    url         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_ref, field)
);
