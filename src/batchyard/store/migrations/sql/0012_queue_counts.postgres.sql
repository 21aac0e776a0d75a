-- Counts per queue and state without count(*) over jobs, and without a counter row that every
-- claim of a queue would update (and so serialise on): the jobs' statement-level triggers
-- append each statement's net change per (queue, state) to queue_count_deltas (an append-only
-- heap, no index, no row anyone else writes), and housekeeping folds the deltas into
-- queue_counts (fold_queue_counts: delete the deltas it sees and add them up, in one
-- statement). A read sums queue_counts and the deltas not folded yet (all_queue_counts), in one
-- snapshot, so it is exact whenever it runs.
CREATE TABLE queue_counts (
    queue text NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    state text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (queue, state)
);

CREATE TABLE queue_count_deltas (
    queue text NOT NULL,
    state text NOT NULL,
    n bigint NOT NULL
);

-- The triggers of 0001 (batch counts) now first append the queue deltas: one trigger call per
-- statement, as before, over the transition tables they already had.
CREATE OR REPLACE FUNCTION batchyard_batch_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue, state, n)
    SELECT queue, state, count(*) FROM new_rows GROUP BY queue, state;
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE batch_id IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM batches
     WHERE id IN (SELECT batch_id FROM new_rows WHERE batch_id IS NOT NULL)
     ORDER BY id FOR UPDATE;
    UPDATE batches b SET
        total = b.total + d.n,
        available = b.available + d.n_available,
        active = b.active + d.n_active,
        completed = b.completed + d.n_completed,
        dead = b.dead + d.n_dead,
        cancelled = b.cancelled + d.n_cancelled,
        state = CASE WHEN b.available + b.active + d.n_available + d.n_active > 0
                     THEN 'pending' ELSE 'completed' END,
        completed_at = CASE WHEN b.available + b.active + d.n_available + d.n_active > 0
                            THEN NULL ELSE coalesce(b.completed_at, now()) END
    FROM (
        SELECT batch_id,
               count(*) AS n,
               count(*) FILTER (WHERE state = 'available') AS n_available,
               count(*) FILTER (WHERE state = 'active') AS n_active,
               count(*) FILTER (WHERE state = 'completed') AS n_completed,
               count(*) FILTER (WHERE state = 'dead') AS n_dead,
               count(*) FILTER (WHERE state = 'cancelled') AS n_cancelled
          FROM new_rows WHERE batch_id IS NOT NULL GROUP BY batch_id
    ) d
    WHERE b.id = d.batch_id;
    RETURN NULL;
END $$;

-- An update's net change per (queue, state): its new rows counted up, its old rows down (a
-- heartbeat, or any write that moves no job between states, appends nothing).
CREATE OR REPLACE FUNCTION batchyard_batch_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue, state, n)
    SELECT queue, state, sum(n) FROM (
        SELECT queue, state, count(*) AS n FROM new_rows GROUP BY queue, state
        UNION ALL
        SELECT queue, state, -count(*) FROM old_rows GROUP BY queue, state
    ) AS moved
     GROUP BY queue, state HAVING sum(n) <> 0;
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE batch_id IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM batches
     WHERE id IN (SELECT batch_id FROM new_rows WHERE batch_id IS NOT NULL)
     ORDER BY id FOR UPDATE;
    UPDATE batches b SET
        available = b.available + d.d_available,
        active = b.active + d.d_active,
        completed = b.completed + d.d_completed,
        dead = b.dead + d.d_dead,
        cancelled = b.cancelled + d.d_cancelled,
        state = CASE WHEN b.available + b.active + d.d_available + d.d_active > 0
                     THEN 'pending' ELSE 'completed' END,
        completed_at = CASE WHEN b.available + b.active + d.d_available + d.d_active > 0
                            THEN NULL ELSE coalesce(b.completed_at, now()) END
    FROM (
        SELECT n.batch_id,
               sum((n.state = 'available')::int - (o.state = 'available')::int) AS d_available,
               sum((n.state = 'active')::int - (o.state = 'active')::int) AS d_active,
               sum((n.state = 'completed')::int - (o.state = 'completed')::int) AS d_completed,
               sum((n.state = 'dead')::int - (o.state = 'dead')::int) AS d_dead,
               sum((n.state = 'cancelled')::int - (o.state = 'cancelled')::int) AS d_cancelled
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.batch_id IS NOT NULL AND n.state <> o.state
         GROUP BY n.batch_id
    ) d
    WHERE b.id = d.batch_id;
    RETURN NULL;
END $$;

-- Deleted jobs (a batch deleted, a face deleting a job) count down, unless their queue is
-- gone too (its counts and deltas go with it: the foreign key, batchyard_queue_delete).
CREATE FUNCTION batchyard_jobs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue, state, n)
    SELECT queue, state, -count(*) FROM old_rows
     WHERE queue IN (SELECT name FROM queues)
     GROUP BY queue, state;
    RETURN NULL;
END $$;

CREATE FUNCTION batchyard_queue_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_count_deltas WHERE queue IN (SELECT name FROM gone);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_counts_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION batchyard_jobs_delete();

CREATE TRIGGER queues_counts_delete AFTER DELETE ON queues
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION batchyard_queue_delete();

-- The counts so far, once (the trigger above locked jobs against writes until this commits).
INSERT INTO queue_counts (queue, state, n)
SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;
