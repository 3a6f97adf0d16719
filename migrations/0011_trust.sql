-- Linking a chat account to a catalog person needs proof: a one-time code
-- sent to the person through a channel usher already trusts for them (a
-- Slack DM), or an usher admin's approval. A pending request per account.
CREATE TABLE link_requests (
    id           text PRIMARY KEY,          -- short, what an admin approves
    platform     text NOT NULL,
    user_id      text NOT NULL,
    user_display text NOT NULL,
    person_ref   text NOT NULL,
    code_hash    text,                      -- NULL: only an admin can approve
    attempts     int NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    UNIQUE (platform, user_id)
);

-- Interactions already acted on (a Slack trigger_id, a Discord interaction
-- id), so one replayed within the signature's five minutes acts once.
CREATE TABLE seen_interactions (
    platform text NOT NULL,
    id       text NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, id)
);
CREATE INDEX seen_interactions_by_age ON seen_interactions (seen_at);
