-- antirelou SQLite schema, version 2: a sender's lessons are found from the sender's row.
--
-- `cancel_pending` (STOP, blocks) finds a sender's pending replies. Version 1 kept an index on
-- `replies (sender)` for it, and every reply wrote one entry into it, at a random place (the
-- sender hashes are random), so each scheduled reply dirtied one more B-tree page of its own,
-- and every page dirtied is a 4 KiB frame written to the WAL and later copied to the database.
-- The group-commit writer (`crate::batch`) writes the sender's row with each lesson anyway, so
-- it lists the lesson's id there instead (`senders.live_replies`, a JSON array of the ids of
-- the sender's replies that may still be pending or claimed) and marks the reply `listed`.
-- Replies stored otherwise keep `listed = 0` and stay in the index, now limited to them.

ALTER TABLE replies ADD COLUMN listed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE senders ADD COLUMN live_replies TEXT;

DROP INDEX replies_sender;
CREATE INDEX replies_sender ON replies (sender) WHERE state = 'pending' AND listed = 0;
