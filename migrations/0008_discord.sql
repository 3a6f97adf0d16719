-- Chat accounts linked to catalog people by `me link` (Discord, where usher
-- can't see emails). An id in the person's descriptor
-- (discord.com/user-id) wins over a link.
CREATE TABLE chat_links (
    platform   text NOT NULL,
    user_id    text NOT NULL,
    person_ref text NOT NULL,
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, user_id),
    UNIQUE (platform, person_ref)
);
