-- Counts per queue and state without count(*) over jobs, and without a counter row that every
-- claim of a queue would update (and so serialise on): the jobs' statement-level triggers
-- append each statement's net change per queue (a row per queue it changed, a column per state)
-- to queue_count_deltas (an append-only heap, no index, no row anyone else writes), and housekeeping folds the deltas into
-- queue_counts (fold_queue_counts: delete the deltas it sees and add them up, in one
-- statement). A read sums queue_counts and the deltas not folded yet (all_queue_counts), in one
-- snapshot, so it is exact whenever it runs.
CREATE TABLE queue_counts (
    queue text PRIMARY KEY REFERENCES queues (name) ON DELETE CASCADE,
    available bigint NOT NULL DEFAULT 0,
    active bigint NOT NULL DEFAULT 0,
    completed bigint NOT NULL DEFAULT 0,
    dead bigint NOT NULL DEFAULT 0,
    cancelled bigint NOT NULL DEFAULT 0
);

-- one row per queue a statement changed, its net change per state
CREATE TABLE queue_count_deltas (
    queue text NOT NULL,
    available bigint NOT NULL,
    active bigint NOT NULL,
    completed bigint NOT NULL,
    dead bigint NOT NULL,
    cancelled bigint NOT NULL
);

-- The triggers of 0001 (batch counts) now first append the queue deltas: one trigger call per
-- statement, as before, over the transition tables they already had.
CREATE OR REPLACE FUNCTION batchyard_batch_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue, available, active, completed, dead, cancelled)
    SELECT queue,
               count(*) FILTER (WHERE state = 'available'),
               count(*) FILTER (WHERE state = 'active'),
               count(*) FILTER (WHERE state = 'completed'),
               count(*) FILTER (WHERE state = 'dead'),
               count(*) FILTER (WHERE state = 'cancelled')
      FROM new_rows GROUP BY queue;
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

-- An update's net change per queue and state: its new rows counted up, its old rows down (a
-- heartbeat, or any write that moves no job between states, appends nothing).
CREATE OR REPLACE FUNCTION batchyard_batch_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- one aggregation over both transition tables (cheaper than one per table and a third
    -- to combine them: benchmarks/count_deltas.py)
    INSERT INTO queue_count_deltas (queue, available, active, completed, dead, cancelled)
    SELECT queue,
           coalesce(sum(d) FILTER (WHERE state = 'available'), 0),
           coalesce(sum(d) FILTER (WHERE state = 'active'), 0),
           coalesce(sum(d) FILTER (WHERE state = 'completed'), 0),
           coalesce(sum(d) FILTER (WHERE state = 'dead'), 0),
           coalesce(sum(d) FILTER (WHERE state = 'cancelled'), 0)
      FROM (SELECT queue, state, 1 AS d FROM new_rows
            UNION ALL
            SELECT queue, state, -1 FROM old_rows) AS moved
     GROUP BY queue
    HAVING coalesce(sum(d) FILTER (WHERE state = 'available'), 0) <> 0
        OR coalesce(sum(d) FILTER (WHERE state = 'active'), 0) <> 0
        OR coalesce(sum(d) FILTER (WHERE state = 'completed'), 0) <> 0
        OR coalesce(sum(d) FILTER (WHERE state = 'dead'), 0) <> 0
        OR coalesce(sum(d) FILTER (WHERE state = 'cancelled'), 0) <> 0;
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
    INSERT INTO queue_count_deltas (queue, available, active, completed, dead, cancelled)
    SELECT queue,
               -count(*) FILTER (WHERE state = 'available'),
               -count(*) FILTER (WHERE state = 'active'),
               -count(*) FILTER (WHERE state = 'completed'),
               -count(*) FILTER (WHERE state = 'dead'),
               -count(*) FILTER (WHERE state = 'cancelled')
      FROM old_rows
     WHERE queue IN (SELECT name FROM queues)
     GROUP BY queue;
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
INSERT INTO queue_counts (queue, available, active, completed, dead, cancelled)
SELECT queue,
               count(*) FILTER (WHERE state = 'available'),
               count(*) FILTER (WHERE state = 'active'),
               count(*) FILTER (WHERE state = 'completed'),
               count(*) FILTER (WHERE state = 'dead'),
               count(*) FILTER (WHERE state = 'cancelled')
  FROM jobs GROUP BY queue;
