-- A queue's max_active: at most this many of its jobs hold an unexpired lease at once (NULL:
-- no limit). A claim of such a queue counts its held leases inside its BEGIN IMMEDIATE
-- transaction: its active jobs (queue_counts, keyed (queue, state)) less those whose lease
-- expired (jobs_leased), so no claim or completion of any queue pays for another index on
-- jobs. queues_limited lets a claim over every queue of a kind find the limited ones.
ALTER TABLE queues ADD COLUMN max_active INTEGER;
CREATE INDEX queues_limited ON queues (kind, name) WHERE max_active IS NOT NULL;

-- A batch's key: unique among the batches of its queue (NULL: none).
ALTER TABLE batches ADD COLUMN key TEXT;
CREATE UNIQUE INDEX batches_key ON batches (queue, key) WHERE key IS NOT NULL;
