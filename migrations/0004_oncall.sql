-- On-call: usher's own rotations (declared in a team's descriptor, or set
-- from chat), their overrides, the last answer of each paging provider per
-- target (shown with its age when the provider is down), and a periodically
-- refreshed snapshot of every provider's on-calls for the hygiene rules.

CREATE TABLE rotations (
    team_ref    text PRIMARY KEY,
    people      text[] NOT NULL,
    length_days integer NOT NULL CHECK (length_days BETWEEN 1 AND 366),
    handoff     time NOT NULL,
    timezone    text NOT NULL,
    start_date  date NOT NULL,
    source      text NOT NULL CHECK (source IN ('catalog', 'chat')),
    updated_by  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rotation_overrides (
    id          bigserial PRIMARY KEY,
    team_ref    text NOT NULL,
    person      text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rotation_overrides_team ON rotation_overrides (team_ref, ends_at);

CREATE TABLE oncall_last_known (
    target      text PRIMARY KEY,
    answer      jsonb NOT NULL,
    fetched_at  timestamptz NOT NULL
);

CREATE TABLE oncall_snapshot (
    provider    text NOT NULL,
    target      text NOT NULL,
    level       integer NOT NULL,
    person      text NOT NULL,
    until       timestamptz,
    fetched_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, target, level, person)
);

CREATE TABLE oncall_snapshot_runs (
    provider    text PRIMARY KEY,
    refreshed_at timestamptz NOT NULL,
    targets     integer NOT NULL,
    error       text
);
