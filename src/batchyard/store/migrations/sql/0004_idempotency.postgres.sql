-- One row per idempotency key of a scope (a face and its resource, e.g. 'native:<queue>'):
-- 'running' while the first request is carried out, then 'done' with its status and exact
-- answer (text, not jsonb: the bytes are replayed as they were). A row whose expires_at has
-- passed counts as absent; housekeeping deletes it.
CREATE TABLE idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    status integer,
    answer text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

-- the housekeeping purge reads expired rows oldest first
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
