-- Refs: a job may carry a ref, an id its submitter chose, unique among the jobs of every queue
-- of one kind (ref_kind: the kind of the job's queue, recorded with the ref; a queue's kind
-- never changes). Jobs with a ref are claimed in ref order, lowest first, from one queue or
-- from every queue of a kind, each over a partial index in exactly that order that holds only
-- the jobs that can be claimed; jobs without one keep the priority order of jobs_claim,
-- which now holds them alone (a job is in one claim order, never two).
ALTER TABLE jobs ADD COLUMN ref TEXT;
ALTER TABLE jobs ADD COLUMN ref_kind TEXT;
CREATE UNIQUE INDEX jobs_ref ON jobs (ref_kind, ref) WHERE ref IS NOT NULL;
CREATE INDEX jobs_ref_claim ON jobs (ref_kind, ref)
    WHERE ref IS NOT NULL
      AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL));
CREATE INDEX jobs_queue_ref_claim ON jobs (queue, ref)
    WHERE ref IS NOT NULL
      AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL));
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, id)
    WHERE ref IS NULL
      AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL));
