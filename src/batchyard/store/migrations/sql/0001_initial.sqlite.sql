CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'native',
    lease_seconds REAL,
    max_attempts INTEGER,
    backoff_base REAL NOT NULL DEFAULT 1,
    backoff_max REAL NOT NULL DEFAULT 3600,
    cyclic INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);

CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'pending',
    total INTEGER NOT NULL DEFAULT 0,
    available INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    completed_at REAL
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    batch_id INTEGER REFERENCES batches (id) ON DELETE CASCADE,
    unique_key TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL DEFAULT 'null',
    state TEXT NOT NULL DEFAULT 'available',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    run_at REAL NOT NULL,
    lease_owner TEXT,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_id TEXT,
    lease_expires_at REAL,
    lease_seconds REAL,
    claimed_at REAL,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);

-- claim order: priority desc, then the time the job became claimable, then id
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, id)
    WHERE state IN ('available', 'active');
CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_batch ON jobs (batch_id, id) WHERE batch_id IS NOT NULL;
-- lease ids carry their job's id (see lease_id in the queries): no index on lease_id needed
CREATE INDEX jobs_queue ON jobs (queue, id);
-- leases by expiry, for the housekeeping sweep
CREATE INDEX jobs_leased ON jobs (run_at) WHERE state = 'active';
CREATE INDEX batches_queue ON batches (queue, id);

-- Jobs per queue and state, kept by triggers: on SQLite this is far cheaper than an index on
-- (queue, state), whose entries would move on every claim and completion.
CREATE TABLE queue_counts (
    queue TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    state TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO queue_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs
WHEN OLD.state <> NEW.state
BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO queue_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;

-- batch counts follow their jobs in the same transaction (SQLite has one writer: no deadlocks)
CREATE TRIGGER jobs_batch_insert AFTER INSERT ON jobs
WHEN NEW.batch_id IS NOT NULL
BEGIN
    UPDATE batches SET
        total = total + 1,
        available = available + (NEW.state = 'available'),
        active = active + (NEW.state = 'active'),
        completed = completed + (NEW.state = 'completed'),
        dead = dead + (NEW.state = 'dead'),
        cancelled = cancelled + (NEW.state = 'cancelled'),
        state = CASE WHEN NEW.state IN ('available', 'active') THEN 'pending' ELSE state END,
        completed_at = CASE WHEN NEW.state IN ('available', 'active') THEN NULL ELSE completed_at END
    WHERE id = NEW.batch_id;
END;

CREATE TRIGGER jobs_batch_update AFTER UPDATE OF state ON jobs
WHEN NEW.batch_id IS NOT NULL AND OLD.state <> NEW.state
BEGIN
    UPDATE batches SET
        available = available + (NEW.state = 'available') - (OLD.state = 'available'),
        active = active + (NEW.state = 'active') - (OLD.state = 'active'),
        completed = completed + (NEW.state = 'completed') - (OLD.state = 'completed'),
        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
        cancelled = cancelled + (NEW.state = 'cancelled') - (OLD.state = 'cancelled')
    WHERE id = NEW.batch_id;
    UPDATE batches SET
        state = CASE WHEN available + active = 0 THEN 'completed' ELSE 'pending' END,
        completed_at = CASE
            WHEN available + active > 0 THEN NULL
            WHEN completed_at IS NULL THEN NEW.updated_at
            ELSE completed_at END
    WHERE id = NEW.batch_id;
END;
