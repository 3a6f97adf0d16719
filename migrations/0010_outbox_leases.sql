-- The outbox as a lease queue (see src/actions/outbox.rs).
--
-- A job is claimed in a short committed transaction that counts the attempt
-- and sets a lease; the send happens outside any transaction; the outcome
-- is recorded in another. A lease that runs out means its process died
-- mid-send: the job is claimed again, or — after max_attempts claims
-- without an outcome — moved to the dead letters.
--
-- Expand only: an older version still serving ignores these columns (it
-- claims with FOR UPDATE SKIP LOCKED as before).
ALTER TABLE outbox ADD COLUMN leased_until timestamptz;
-- Who holds the lease: a token per claim, so a late outcome from a lease
-- that ran out can't overwrite the next claim's.
ALTER TABLE outbox ADD COLUMN lease_token text;
-- 0: someone is waiting (pages, answers to commands); 1: messages;
-- 2: bulk (digests, notifications, proposals, automation).
ALTER TABLE outbox ADD COLUMN priority smallint NOT NULL DEFAULT 1;

CREATE INDEX outbox_claimable ON outbox (priority, next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_leased ON outbox (leased_until) WHERE state = 'pending' AND leased_until IS NOT NULL;
