-- A queue's retention: its completed jobs are deleted this many seconds after they finished,
-- its dead and cancelled ones after retain_dead_seconds (NULL: kept for ever, which every
-- queue made before this migration, and every face's own queue, keeps).
ALTER TABLE queues ADD COLUMN retain_completed_seconds double precision;
ALTER TABLE queues ADD COLUMN retain_dead_seconds double precision;

-- The purge's pick: the finished jobs of one queue and state outside batches, oldest first.
-- Partial: an unfinished job (a claim, a heartbeat) is never in it, so the hot path does not
-- maintain it; a completion adds one entry.
CREATE INDEX jobs_finished ON jobs (queue, state, finished_at)
    WHERE finished_at IS NOT NULL AND batch_id IS NULL;
