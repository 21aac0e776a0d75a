-- A queue's max_active: at most this many of its jobs hold an unexpired lease at once (NULL:
-- no limit). Claims of such a queue take a transaction-scoped advisory lock on it and count
-- its held leases over jobs_queue_state (queue, state, id); every other claim's statement
-- checks, over queues_limited (a handful of rows), that its queue has no limit.
ALTER TABLE queues ADD COLUMN max_active integer;
CREATE INDEX queues_limited ON queues (kind, name) WHERE max_active IS NOT NULL;

-- A batch's key: unique among the batches of its queue (NULL: none).
ALTER TABLE batches ADD COLUMN key text;
CREATE UNIQUE INDEX batches_key ON batches (queue, key) WHERE key IS NOT NULL;
