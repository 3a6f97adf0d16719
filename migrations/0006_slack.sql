-- Slack: the events acted on (any replica dedupes by event id), the Slack
-- people usher has looked up or synced, and long button values.

CREATE TABLE slack_events (
    event_id    text PRIMARY KEY,
    team_id     text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_events_received ON slack_events (received_at);

-- A Slack account as users.info / users.list last described it.
CREATE TABLE slack_users (
    user_id     text PRIMARY KEY,
    team_id     text,              -- the account's home workspace
    email       text,
    name        text,
    deleted     boolean NOT NULL DEFAULT false,
    is_bot      boolean NOT NULL DEFAULT false,
    -- from another organisation (Slack Connect: is_stranger)
    external    boolean NOT NULL DEFAULT false,
    fetched_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_users_email ON slack_users (lower(email)) WHERE email IS NOT NULL;

-- Command lines too long for a Slack button (2000 characters) or option
-- value (150): the element carries `v:<hash>` and the line lives here.
CREATE TABLE slack_values (
    hash        text PRIMARY KEY,
    command     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A person whose chat account was deactivated (kept apart from `active`,
-- which comes from the descriptor, so a re-import doesn't undo it).
ALTER TABLE entities ADD COLUMN deactivated_at timestamptz;
ALTER TABLE entities ADD COLUMN deactivated_by text;

-- Periodic work shared by replicas (the people sync, later the nags):
-- whoever claims a due task's lease runs it, so it runs once.
CREATE TABLE periodic_tasks (
    name         text PRIMARY KEY,
    next_run_at  timestamptz NOT NULL DEFAULT '-infinity',
    lease_until  timestamptz,
    lease_owner  text,
    last_run_at  timestamptz,
    last_outcome jsonb
);
