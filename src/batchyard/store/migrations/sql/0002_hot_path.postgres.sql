-- A job leased without expiry can never be claimed again, so it leaves the claim index instead
-- of moving to its far end and back out (one index entry less to write per claim and complete).
-- Per-queue counts need nothing here: PostgreSQL counts them from the jobs_queue_state index.
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, id)
    WHERE state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL);
