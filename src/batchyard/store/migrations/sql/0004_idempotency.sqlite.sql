-- One row per idempotency key of a scope (a face and its resource, e.g. 'native:<queue>'):
-- 'running' while the first request is carried out, then 'done' with its status and exact
-- answer (text). A row whose expires_at has passed counts as absent; housekeeping deletes it.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    status INTEGER,
    answer TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
);

-- the housekeeping purge reads expired rows oldest first
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
