-- Batches that are filled after they were made (a run gets its jobs later) and sealed
-- against more; job logs (lines a worker streams while it runs a job); the batch listing
-- newest first per queue (batches_queue already reads (queue, id) in both directions).
ALTER TABLE batches ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE job_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);
