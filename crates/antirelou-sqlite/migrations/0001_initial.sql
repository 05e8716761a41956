-- antirelou SQLite schema, version 1.
-- Times are integer milliseconds since the Unix epoch (UTC); money is integer micro-units;
-- sender hashes are 16-byte blobs. Plain phone numbers live only in replies.recipient, and only
-- while the reply is pending or claimed.

CREATE TABLE replies (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    kind            TEXT    NOT NULL,
    number          TEXT    NOT NULL,
    recipient       TEXT,
    sender          BLOB    NOT NULL,
    due_at          INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    lease_until     INTEGER,
    provider_id     TEXT,
    last_error      TEXT,
    delivery        TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (state IN ('pending', 'claimed', 'sent', 'failed', 'expired', 'cancelled')),
    CHECK (state IN ('pending', 'claimed') OR recipient IS NULL)
);

-- Claims walk the live replies (pending or claimed) oldest due first; orphaned claims (lease
-- ended) are found on the same walk.
CREATE INDEX replies_live_due ON replies (due_at, id) WHERE state IN ('pending', 'claimed');
-- Expiry of pending replies.
CREATE INDEX replies_pending_expiry ON replies (expires_at) WHERE state = 'pending';
-- STOP / block cancels the sender's pending replies.
CREATE INDEX replies_sender ON replies (sender) WHERE state = 'pending';
-- Delivery reports.
CREATE INDEX replies_provider_id ON replies (provider_id) WHERE provider_id IS NOT NULL;
-- Retention purge of terminal replies.
CREATE INDEX replies_terminal_updated ON replies (updated_at) WHERE state NOT IN ('pending', 'claimed');

CREATE TABLE senders (
    sender         BLOB    PRIMARY KEY,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    contacts       INTEGER NOT NULL,
    last_lesson_at INTEGER
) WITHOUT ROWID;

CREATE TABLE opt_outs (
    sender     BLOB    PRIMARY KEY,
    opted_out  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Committed spend (settled plus reserved) per period: 'd:yyyymmdd' and 'm:yyyymm'.
CREATE TABLE spend_periods (
    period    TEXT    PRIMARY KEY,
    committed INTEGER NOT NULL
) WITHOUT ROWID;

-- Each reservation, so that settle and release apply at most once.
CREATE TABLE reservations (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    amount INTEGER NOT NULL,
    day    INTEGER NOT NULL,
    month  INTEGER NOT NULL,
    state  TEXT    NOT NULL, -- 'reserved', 'settled', 'released'
    created_at INTEGER NOT NULL
);
CREATE INDEX reservations_created ON reservations (created_at);

CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
