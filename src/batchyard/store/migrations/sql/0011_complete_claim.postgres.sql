-- Complete leased job done_id (under done_token, in queue done_queue) and claim the next job
-- of that queue for next_owner, in one call: one round trip, one transaction (the caller's
-- statement). Answers the completed job, then the claimed one if any; nothing (and no claim)
-- when the completion changes nothing, or the job's lease had expired (the store then
-- completes and claims the usual way, or tells a repeat from a refusal).
--
-- No advisory lock, even for a queue with max_active: the job completed held an unexpired
-- lease, so the place it frees goes to the job claimed, in the same transaction: the held
-- leases never grow. A claimer under the queue's lock counts, in its snapshot, either the job
-- completed (before this commits) or the job claimed (after), never neither, so it grants no
-- place twice. The count here only honours a max_active lowered below what is held (no
-- claim then). A completion whose lease expired frees no place (a claimer may have taken it
-- already), hence the fallback; so does one whose lease has less than 2 s left, so that no
-- claimer can see it expire while this call runs.
CREATE FUNCTION batchyard_complete_claim(
    done_id bigint, done_token bigint, done_result text, done_queue text,
    next_owner text, next_lease float8
) RETURNS SETOF jobs LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    free integer;
    done jobs;
BEGIN
    UPDATE jobs SET
        state = CASE WHEN q.requeue_on_complete THEN 'available' ELSE 'completed' END,
        result = done_result::jsonb,
        error = NULL,
        run_at = now(),
        lease_owner = CASE WHEN q.requeue_on_complete THEN NULL ELSE jobs.lease_owner END,
        lease_id = CASE WHEN q.requeue_on_complete THEN NULL ELSE jobs.lease_id END,
        claimed_at = CASE WHEN q.requeue_on_complete THEN NULL ELSE jobs.claimed_at END,
        lease_expires_at = NULL,
        finished_at = now(),
        updated_at = now()
      FROM queues AS q
     WHERE jobs.id = done_id AND jobs.state = 'active' AND jobs.lease_token = done_token
       AND jobs.queue = done_queue AND q.name = jobs.queue
       AND (jobs.lease_expires_at IS NULL
            OR jobs.lease_expires_at > now() + interval '2 seconds')
    RETURNING jobs.* INTO done;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF done.state = 'available' THEN
        PERFORM pg_notify('batchyard_jobs', done_queue);
    END IF;
    RETURN NEXT done;
    SELECT q.max_active - (
               SELECT count(*) FROM jobs AS h
                WHERE h.queue = q.name AND h.state = 'active'
                  AND (h.lease_expires_at IS NULL OR h.lease_expires_at > now()))
      INTO free
      FROM queues AS q
     WHERE q.name = done_queue AND q.max_active IS NOT NULL;
    IF free IS NOT NULL AND free < 1 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH picked AS MATERIALIZED (
        SELECT id FROM jobs
         WHERE queue = done_queue AND ref IS NULL AND run_at <= now()
           AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
           AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
         ORDER BY priority DESC, run_at, id
         LIMIT 1
           FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs SET
        state = 'active',
        attempts = attempts + 1,
        lease_owner = next_owner,
        lease_token = lease_token + 1,
        lease_id = batchyard_lease_id(jobs.id),
        claimed_at = now(),
        lease_expires_at = now() + make_interval(secs => next_lease),
        lease_seconds = next_lease,
        run_at = coalesce(now() + make_interval(secs => next_lease),
                          '9999-12-31T23:59:59Z'::timestamptz),
        updated_at = now()
     WHERE jobs.id = (SELECT id FROM picked)
    RETURNING jobs.*;
END
$$;
