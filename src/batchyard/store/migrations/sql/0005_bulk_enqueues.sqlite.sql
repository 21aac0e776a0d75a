-- A big enqueue (more than one slice of jobs) on SQLite: the whole request is recorded here in
-- one transaction, then its jobs are written one slice per transaction, each moving `done` on,
-- so that other requests' writes get in between. The last slice deletes the record. A record
-- left by a server that stopped or crashed meanwhile is finished when the store next opens: a
-- recorded enqueue is written whole, exactly once, or (its queue deleted) not at all.
CREATE TABLE bulk_enqueues (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    batch_id INTEGER REFERENCES batches (id) ON DELETE CASCADE,
    done INTEGER NOT NULL DEFAULT 0,  -- how many of its jobs are written
    created_at REAL NOT NULL
);

-- the jobs apart from the progress: an UPDATE of `done` rewrites its row, and a row holding
-- megabytes of jobs would be written to the WAL again for every slice
CREATE TABLE bulk_enqueue_jobs (
    bulk_id INTEGER PRIMARY KEY REFERENCES bulk_enqueues (id) ON DELETE CASCADE,
    jobs BLOB NOT NULL  -- every job of the request, as a JSON array of NewJob
);
