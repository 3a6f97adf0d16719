-- Guided conversations (service creation): their state lives here, so a
-- restart or another replica continues them exactly.
CREATE TABLE dialogs (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    platform      text NOT NULL,
    platform_user text NOT NULL,
    conversation  text NOT NULL,
    actor         jsonb NOT NULL,
    step          text NOT NULL,
    answers       jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'cancelled', 'expired')),
    result        text,
    started_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- One running dialogue of a kind per person and conversation.
CREATE UNIQUE INDEX dialogs_active ON dialogs (kind, platform, platform_user, conversation) WHERE status = 'active';

-- What each automation step did for a new service (shown in the
-- conversation: running, done with its link, failed with the reason).
CREATE TABLE automation_steps (
    service_ref text NOT NULL,
    action      text NOT NULL,
    position    integer NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    detail      text,
    url         text,
    job_id      bigint,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_ref, action)
);
