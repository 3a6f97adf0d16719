-- A directory sync that would remove much of a team waits for an admin:
-- the change (by its fingerprint) they confirmed.
CREATE TABLE directory_confirmations (
    fingerprint  text PRIMARY KEY,
    confirmed_by text NOT NULL,
    confirmed_at timestamptz NOT NULL DEFAULT now()
);
