-- antirelou PostgreSQL schema, version 1.
-- Times are bigint milliseconds since the Unix epoch (UTC); money is bigint micro-units;
-- sender hashes are 16-byte bytea. Plain phone numbers live only in replies.recipient, and only
-- while the reply is pending or claimed.

CREATE TABLE replies (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT      NOT NULL UNIQUE,
    state           TEXT      NOT NULL,
    attempt         BIGINT    NOT NULL DEFAULT 0,
    kind            TEXT      NOT NULL,
    number          TEXT      NOT NULL,
    recipient       TEXT,
    sender          BYTEA     NOT NULL,
    due_at          BIGINT    NOT NULL,
    expires_at      BIGINT    NOT NULL,
    lease_until     BIGINT,
    provider_id     TEXT,
    last_error      TEXT,
    delivery        TEXT,
    created_at      BIGINT    NOT NULL,
    updated_at      BIGINT    NOT NULL,
    CONSTRAINT replies_state_known CHECK (state IN ('pending', 'claimed', 'sent', 'failed', 'expired', 'cancelled')),
    CONSTRAINT replies_terminal_erased CHECK (state IN ('pending', 'claimed') OR recipient IS NULL)
);

-- Claims walk the live replies (pending or claimed) oldest due first; orphaned claims (lease
-- ended) are found on the same walk. Fenced updates go through the primary key.
CREATE INDEX replies_live_due ON replies (due_at, id) WHERE state IN ('pending', 'claimed');
-- STOP / block cancels the sender's pending replies.
CREATE INDEX replies_sender ON replies (sender) WHERE state = 'pending';
-- Delivery reports.
CREATE INDEX replies_provider_id ON replies (provider_id) WHERE provider_id IS NOT NULL;
-- Retention purge of terminal replies.
CREATE INDEX replies_terminal_updated ON replies (updated_at) WHERE state NOT IN ('pending', 'claimed');

CREATE TABLE senders (
    sender         BYTEA  PRIMARY KEY,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    contacts       BIGINT NOT NULL,
    last_lesson_at BIGINT
);

CREATE TABLE opt_outs (
    sender     BYTEA   PRIMARY KEY,
    opted_out  BOOLEAN NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- Committed spend (settled plus reserved) per period: 'd:yyyymmdd' and 'm:yyyymm'.
CREATE TABLE spend_periods (
    period    TEXT   PRIMARY KEY,
    committed BIGINT NOT NULL
);

-- Each reservation, so that settle and release apply at most once.
CREATE TABLE reservations (
    id         BIGSERIAL PRIMARY KEY,
    amount     BIGINT    NOT NULL,
    day        BIGINT    NOT NULL,
    month      BIGINT    NOT NULL,
    state      TEXT      NOT NULL, -- 'reserved', 'settled', 'released'
    created_at BIGINT    NOT NULL
);
CREATE INDEX reservations_created ON reservations (created_at);

CREATE TABLE counters (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
