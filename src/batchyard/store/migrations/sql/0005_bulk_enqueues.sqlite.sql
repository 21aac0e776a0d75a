-- A big enqueue (more than one slice of jobs) on SQLite: the whole request is recorded here in
-- one transaction, then its jobs are written one slice per transaction, each moving `done` on,
-- so that other requests' writes get in between. The last slice deletes the row. A row left by
-- a server that stopped or crashed meanwhile is finished when the store next opens: a recorded
-- enqueue is written whole, exactly once, or (its queue deleted) not at all.
CREATE TABLE bulk_enqueues (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    batch_id INTEGER REFERENCES batches (id) ON DELETE CASCADE,
    jobs BLOB NOT NULL,  -- every job of the request, as a JSON array of NewJob
    done INTEGER NOT NULL DEFAULT 0,  -- how many of them are written
    created_at REAL NOT NULL
);
