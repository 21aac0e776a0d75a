-- Named queries for PostgreSQL (asyncpg, $n placeholders). Every name here must also exist in
-- sqlite.sql (a test checks it). Time is the database clock, now(), so every replica agrees;
-- "no expiry" leases park run_at at 9999-12-31T23:59:59Z like SQLite's FAR_FUTURE.
-- jsonb parameters and columns are encoded/decoded by the pool's codec (msgspec); arrays of
-- JSON values travel as text[] of JSON documents (a list inside a jsonb[] parameter would be
-- taken for another array dimension) and are cast per element.
--
-- Statements that make work claimable (enqueue, release, fail with retry, a completion that requeues)
-- send one pg_notify('batchyard_jobs', queue) per statement and queue: a MATERIALIZED CTE runs
-- it once, and the final SELECT references it through a scalar subquery so it is evaluated.

-- name: insert_queue
INSERT INTO queues (name, kind, lease_seconds, max_attempts, backoff_base, backoff_max,
                    requeue_on_complete, meta, max_active, retain_completed_seconds,
                    retain_dead_seconds, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: get_queue
SELECT * FROM queues WHERE name = $1;

-- name: list_queues
SELECT * FROM queues ORDER BY name;

-- name: list_queues_of_kind
SELECT * FROM queues WHERE kind = $1 ORDER BY name;

-- name: delete_queue
-- $2 = force; without it, a queue with active jobs is left alone (count_active explains why).
DELETE FROM queues
 WHERE name = $1
   AND ($2::boolean OR NOT EXISTS (SELECT 1 FROM jobs WHERE queue = $1 AND state = 'active'))
RETURNING *;

-- name: count_active
SELECT count(*) AS n FROM jobs WHERE queue = $1 AND state = 'active';

-- name: queue_counts
-- a queue's jobs per state, as all_queue_counts: its folded counts plus its deltas not folded yet
SELECT s.state, s.n::bigint AS n
  FROM (SELECT sum(available) AS available, sum(active) AS active, sum(completed) AS completed,
               sum(dead) AS dead, sum(cancelled) AS cancelled
          FROM (SELECT available, active, completed, dead, cancelled
                  FROM queue_counts WHERE queue = $1
                UNION ALL
                SELECT available, active, completed, dead, cancelled
                  FROM queue_count_deltas WHERE queue = $1) AS both_parts) AS c
 CROSS JOIN LATERAL (VALUES ('available', c.available), ('active', c.active),
                            ('completed', c.completed), ('dead', c.dead),
                            ('cancelled', c.cancelled)) AS s (state, n)
 WHERE s.n <> 0;

-- name: insert_job
-- Many jobs in one statement. Rows are inserted in input order (ids grow with it); a taken
-- unique key inserts nothing (get_job_by_key fetches the existing job). A missing queue (or
-- batch) violates the foreign key: the store reports NotFound; a taken ref violates jobs_ref
-- (AlreadyExists) and inserts none of them. $9 states, $10 results (JSON text): a job may be
-- recorded already finished (finished_at now).
WITH inserted AS (
    INSERT INTO jobs (queue, batch_id, unique_key, priority, payload, state, attempts,
                      max_attempts, run_at, created_at, updated_at, ref, ref_kind, result,
                      finished_at)
    SELECT $1, $2, i.unique_key, i.priority, i.payload::jsonb, i.state, 0,
           coalesce(i.max_attempts, (SELECT max_attempts FROM queues WHERE name = $1)),
           now() + make_interval(secs => greatest(i.delay, 0)), now(), now(),
           i.ref, CASE WHEN i.ref IS NOT NULL THEN (SELECT kind FROM queues WHERE name = $1) END,
           i.result::jsonb, CASE WHEN i.state <> 'available' THEN now() END
      FROM unnest($3::text[], $4::integer[], $5::text[], $6::integer[], $7::float8[], $8::text[],
                  $9::text[], $10::text[])
           WITH ORDINALITY AS i (unique_key, priority, payload, max_attempts, delay, ref, state,
                                 result, ord)
     ORDER BY i.ord
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING *
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', $1) FROM (SELECT 1 FROM inserted LIMIT 1) AS one
)
SELECT * FROM inserted WHERE (SELECT count(*) FROM notified) >= 0;

-- name: insert_job_brief
-- postgres only: insert_job answering only how many (a batch made without its jobs back, no
-- unique keys; SQLite runs insert_job by executemany then)
-- same as insert_job, with: SELECT * FROM inserted WHERE => SELECT count(*) AS n FROM inserted WHERE

-- name: get_job_by_key
SELECT * FROM jobs WHERE queue = $1 AND unique_key = ANY($2::text[]);

-- name: lease_jobs
-- The claim, in one statement: pick (skipping rows other claimers hold) and lease.
-- $1 queue, $2 limit, $3 owner, $4 lease seconds (NULL: no expiry). The picked ids reach the
-- UPDATE as an array so it always finds them through the primary key (a join on picked.id
-- lets a generic plan hash-join a sequential scan of every job). Rows come back in claim
-- order: priority desc, the run_at the job was picked by, id.
-- A queue with max_active claims nothing here (one probe of queues_limited, evaluated once):
-- the store claims from it under its lock (lease_jobs_limited).
WITH picked AS MATERIALIZED (
    SELECT id, run_at, priority FROM jobs
     WHERE queue = $1 AND ref IS NULL AND run_at <= now()
       AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
       AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
       AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $1 AND g.max_active IS NOT NULL)
     ORDER BY priority DESC, run_at, id
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs SET
        state = 'active',
        attempts = attempts + 1,
        lease_owner = $3,
        lease_token = lease_token + 1,
        lease_id = batchyard_lease_id(id),
        claimed_at = now(),
        lease_expires_at = now() + make_interval(secs => $4::float8),
        lease_seconds = $4::float8,
        run_at = coalesce(now() + make_interval(secs => $4::float8),
                          '9999-12-31T23:59:59Z'::timestamptz),
        updated_at = now()
     WHERE id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING *
)
SELECT claimed.* FROM claimed JOIN picked USING (id)
 ORDER BY picked.priority DESC, picked.run_at, picked.id;

-- name: claim_next
-- postgres only: single claims that arrived together, in one statement (SQLite claims one
-- like many): $1 queue, $2 the claimers' names (one job each, handed out in claim order),
-- $3 lease seconds. `slot` is the claimer's position in $2. Nothing of a queue with
-- max_active (as lease_jobs: claim_next_limited).
WITH picked AS MATERIALIZED (
    SELECT id, run_at, priority FROM jobs
     WHERE queue = $1 AND ref IS NULL AND run_at <= now()
       AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
       AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
       AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $1 AND g.max_active IS NOT NULL)
     ORDER BY priority DESC, run_at, id
     LIMIT cardinality($2::text[])
       FOR UPDATE SKIP LOCKED
), slots AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS slot FROM picked
), claimed AS (
    UPDATE jobs SET
        state = 'active',
        attempts = attempts + 1,
        lease_owner = ($2::text[])[(SELECT slot FROM slots WHERE slots.id = jobs.id)],
        lease_token = lease_token + 1,
        lease_id = batchyard_lease_id(id),
        claimed_at = now(),
        lease_expires_at = now() + make_interval(secs => $3::float8),
        lease_seconds = $3::float8,
        run_at = coalesce(now() + make_interval(secs => $3::float8),
                          '9999-12-31T23:59:59Z'::timestamptz),
        updated_at = now()
     WHERE id = ANY (ARRAY(SELECT id FROM slots))
    RETURNING *
)
SELECT claimed.*, slots.slot FROM claimed JOIN slots USING (id) ORDER BY slots.slot;

-- name: claim_job
-- $1 id, $2 owner, $3 lease seconds (NULL: no expiry). Not a job of a queue with max_active
-- (claim_job_limited, under the queue's lock).
UPDATE jobs SET
    state = 'active',
    attempts = attempts + 1,
    lease_owner = $2,
    lease_token = lease_token + 1,
    lease_id = batchyard_lease_id(id),
    claimed_at = now(),
    lease_expires_at = now() + make_interval(secs => $3::float8),
    lease_seconds = $3::float8,
    run_at = coalesce(now() + make_interval(secs => $3::float8),
                      '9999-12-31T23:59:59Z'::timestamptz),
    updated_at = now()
 WHERE id = $1 AND state IN ('available', 'active') AND run_at <= now()
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
   AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = jobs.queue AND g.max_active IS NOT NULL)
RETURNING *;

-- name: heartbeat
-- $1 id, $2 token, $3 lease seconds (NULL: renew for as long as the lease was granted), $4 the
-- job's queue (NULL: any).
UPDATE jobs SET
    lease_seconds = coalesce($3::float8, lease_seconds),
    lease_expires_at = now() + make_interval(secs => coalesce($3::float8, lease_seconds)),
    run_at = coalesce(now() + make_interval(secs => coalesce($3::float8, lease_seconds)),
                      '9999-12-31T23:59:59Z'::timestamptz),
    updated_at = now()
 WHERE id = $1 AND state = 'active' AND lease_token = $2 AND ($4::text IS NULL OR queue = $4)
RETURNING *;

-- name: complete
-- Many completions in one statement: $1 ids, $2 tokens, $3 results (JSON text), $4 the queue each
-- job must be in (NULL: any). Refused items simply
-- update nothing; the store compares the count and rolls the transaction back.
WITH done AS (
    UPDATE jobs SET
        state = CASE WHEN q.requeue_on_complete THEN 'available' ELSE 'completed' END,
        result = i.result::jsonb,
        error = NULL,
        run_at = now(),
        lease_owner = CASE WHEN q.requeue_on_complete THEN NULL ELSE jobs.lease_owner END,
        lease_id = CASE WHEN q.requeue_on_complete THEN NULL ELSE jobs.lease_id END,
        claimed_at = CASE WHEN q.requeue_on_complete THEN NULL ELSE jobs.claimed_at END,
        lease_expires_at = NULL,
        finished_at = now(),
        updated_at = now()
      FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS i (id, token, result, queue),
           queues AS q
     WHERE jobs.id = i.id AND jobs.state = 'active' AND jobs.lease_token = i.token
       AND (i.queue IS NULL OR jobs.queue = i.queue)
       AND q.name = jobs.queue
    RETURNING jobs.*
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', c.queue)
      FROM (SELECT DISTINCT queue FROM done WHERE state = 'available') AS c
)
SELECT * FROM done WHERE (SELECT count(*) FROM notified) >= 0;

-- name: complete_and_claim
-- postgres only: complete job $1 under token $2 with result $3 (JSON text) in queue $4, then
-- claim the next job of $4 for owner $5 with lease $6 (NULL: no expiry), in one round trip
-- (the function of migration 0011: the completed row, then the claimed one; no row when the
-- completion changed nothing or the job's lease had expired, and then nothing was claimed)
SELECT * FROM batchyard_complete_claim($1, $2, $3, $4, $5, $6::float8);

-- name: complete_brief
-- same as complete, with: SELECT * FROM done => SELECT id, queue, state FROM done

-- name: fail
-- $1 id, $2 token, $3 error, $4 retry delay in seconds (NULL: dead), $5 the job's queue (NULL: any).
WITH failed AS (
    UPDATE jobs SET
        state = CASE WHEN $4::float8 IS NULL THEN 'dead' ELSE 'available' END,
        error = $3,
        run_at = now() + make_interval(secs => coalesce($4::float8, 0)),
        lease_expires_at = NULL,
        lease_owner = CASE WHEN $4::float8 IS NULL THEN lease_owner END,
        lease_id = CASE WHEN $4::float8 IS NULL THEN lease_id END,
        claimed_at = CASE WHEN $4::float8 IS NULL THEN claimed_at END,
        finished_at = CASE WHEN $4::float8 IS NULL THEN now() END,
        updated_at = now()
     WHERE id = $1 AND state = 'active' AND lease_token = $2 AND ($5::text IS NULL OR queue = $5)
    RETURNING *
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', queue) FROM failed WHERE state = 'available'
)
SELECT * FROM failed WHERE (SELECT count(*) FROM notified) >= 0;

-- name: release
-- $1 id, $2 token, $3 delay in seconds, $4 the job's queue (NULL: any).
WITH released AS (
    UPDATE jobs SET
        state = 'available',
        attempts = greatest(attempts - 1, 0),
        run_at = now() + make_interval(secs => greatest($3::float8, 0)),
        lease_owner = NULL,
        lease_id = NULL,
        claimed_at = NULL,
        lease_expires_at = NULL,
        updated_at = now()
     WHERE id = $1 AND state = 'active' AND lease_token = $2 AND ($4::text IS NULL OR queue = $4)
    RETURNING *
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', queue) FROM released
)
SELECT * FROM released WHERE (SELECT count(*) FROM notified) >= 0;

-- name: cancel
UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, finished_at = now(),
                updated_at = now()
 WHERE id = $1 AND state IN ('available', 'active')
RETURNING *;

-- name: retry
-- a dead or cancelled job back to work now; one more attempt if its attempts were used up
WITH retried AS (
    UPDATE jobs SET
        state = 'available',
        run_at = now(),
        max_attempts = CASE WHEN max_attempts IS NOT NULL AND attempts >= max_attempts
                            THEN attempts + 1 ELSE max_attempts END,
        lease_owner = NULL,
        lease_id = NULL,
        claimed_at = NULL,
        lease_expires_at = NULL,
        finished_at = NULL,
        updated_at = now()
     WHERE id = $1 AND state IN ('dead', 'cancelled')
    RETURNING *
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', queue) FROM retried
)
SELECT * FROM retried WHERE (SELECT count(*) FROM notified) >= 0;

-- name: get_job
SELECT * FROM jobs WHERE id = $1;

-- name: find_by_lease
-- $1 the job id carried in the lease id, $2 the lease id
SELECT * FROM jobs WHERE id = $1 AND lease_id = $2 AND state = 'active';

-- name: list_jobs
SELECT * FROM jobs WHERE queue = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: list_jobs_in_state
SELECT * FROM jobs WHERE queue = $1 AND state = $2 AND id > $3 ORDER BY id LIMIT $4;

-- name: list_jobs_newest
-- newest first: $2 is the id the page starts below
SELECT * FROM jobs WHERE queue = $1 AND id < $2 ORDER BY id DESC LIMIT $3;

-- name: list_jobs_in_state_newest
SELECT * FROM jobs WHERE queue = $1 AND state = $2 AND id < $3 ORDER BY id DESC LIMIT $4;

-- name: list_claim_order
-- the dashboard's claim order page: the jobs without a ref lease_jobs could take now, in its
-- order (over jobs_claim), after ($2 priority, $3 run_at, $4 id) unless $2 is NULL; $5 at most
SELECT * FROM jobs
 WHERE queue = $1 AND ref IS NULL AND run_at <= now()
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
   AND ($2::integer IS NULL OR priority < $2
        OR (priority = $2 AND (run_at, id) > ($3::timestamptz, $4::bigint)))
 ORDER BY priority DESC, run_at, id
 LIMIT $5;

-- name: list_ref_claim_order
-- then those with a ref, in ref order (over jobs_queue_ref_claim), after ref $2; $3 at most
SELECT * FROM jobs
 WHERE queue = $1 AND ref IS NOT NULL AND ref > $2 AND run_at <= now()
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
 ORDER BY ref
 LIMIT $3;

-- name: all_queue_counts
-- every queue's jobs per state: the folded counts plus the deltas not folded yet (migration
-- 0012), one snapshot, so exact; never a scan of jobs
SELECT c.queue, s.state, s.n::bigint AS n
  FROM (SELECT queue, sum(available) AS available, sum(active) AS active,
               sum(completed) AS completed, sum(dead) AS dead, sum(cancelled) AS cancelled
          FROM (SELECT queue, available, active, completed, dead, cancelled FROM queue_counts
                UNION ALL
                SELECT queue, available, active, completed, dead, cancelled
                  FROM queue_count_deltas) AS both_parts
         GROUP BY queue) AS c
 CROSS JOIN LATERAL (VALUES ('available', c.available), ('active', c.active),
                            ('completed', c.completed), ('dead', c.dead),
                            ('cancelled', c.cancelled)) AS s (state, n)
 WHERE s.n <> 0;

-- name: fold_queue_counts
-- postgres only: housekeeping adds the deltas it sees into queue_counts and deletes them, in
-- one statement (a concurrent fold waits on the rows this one deletes, then skips them); the
-- deltas of a queue deleted meanwhile are dropped. How many deltas.
WITH folded AS (
    DELETE FROM queue_count_deltas RETURNING *
), added AS (
    INSERT INTO queue_counts AS c (queue, available, active, completed, dead, cancelled)
    SELECT queue, sum(available), sum(active), sum(completed), sum(dead), sum(cancelled)
      FROM folded
     WHERE queue IN (SELECT name FROM queues)
     GROUP BY queue
    ON CONFLICT (queue) DO UPDATE SET
        available = c.available + excluded.available,
        active = c.active + excluded.active,
        completed = c.completed + excluded.completed,
        dead = c.dead + excluded.dead,
        cancelled = c.cancelled + excluded.cancelled
)
SELECT count(*) AS n FROM folded;

-- name: queue_heads
-- per queue, when the first job of each claim order (priority, then ref) became claimable:
-- one index probe each, in the partial indexes the claims use
SELECT q.name AS queue,
       (SELECT j.run_at FROM jobs AS j
         WHERE j.queue = q.name AND j.ref IS NULL AND j.state = 'available'
         ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1) AS head,
       (SELECT j.run_at FROM jobs AS j
         WHERE j.queue = q.name AND j.ref IS NOT NULL AND j.state = 'available'
         ORDER BY j.ref LIMIT 1) AS ref_head
  FROM queues AS q;

-- name: sweep_expired
UPDATE jobs SET state = 'dead', error = 'lease expired on the last attempt',
                finished_at = now(), updated_at = now()
 WHERE queue IN (SELECT name FROM queues) AND state = 'active' AND lease_expires_at IS NOT NULL
   AND run_at <= now()
   AND max_attempts IS NOT NULL AND attempts >= max_attempts;

-- name: insert_batch
-- $1 queue, $2 state ('pending', or 'completed' for an empty batch), $3 meta, $4 key (NULL:
-- none; a taken one violates batches_key: AlreadyExists).
INSERT INTO batches (queue, state, meta, created_at, completed_at, key)
VALUES ($1, $2::text, $3, now(), CASE WHEN $2::text = 'completed' THEN now() END, $4)
RETURNING *;

-- name: get_batch_by_key
SELECT * FROM batches WHERE queue = $1 AND key = $2;

-- name: cancel_batch
-- Engine.cancel_batch: every job of batch $1 that nobody holds (available, delayed or not) is
-- cancelled; active and finished ones are left alone. How many (the batch's counts and
-- completion follow by the statement-level triggers).
WITH cancelled AS (
    UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, finished_at = now(),
                    updated_at = now()
     WHERE batch_id = $1 AND state = 'available'
    RETURNING 1
)
SELECT count(*) AS n FROM cancelled;

-- name: get_batch
SELECT * FROM batches WHERE id = $1;

-- name: batch_jobs
-- $1 batch, $2 after this job id, $3 at most this many (NULL: all)
SELECT * FROM jobs WHERE batch_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: begin_idempotent
-- $1 scope, $2 key, $3 fingerprint, $4 seconds the running row holds the key.
-- A row back: the caller owns the key now (new, or replacing an expired row). None: an
-- unexpired row is there; get_idempotent reads it in a second statement, whose snapshot also
-- sees a row that a concurrent begin committed while this one waited on it.
INSERT INTO idempotency_keys AS k (scope, key, fingerprint, state, created_at, expires_at)
VALUES ($1, $2, $3, 'running', now(), now() + make_interval(secs => $4::float8))
ON CONFLICT (scope, key) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    state = 'running',
    status = NULL,
    answer = NULL,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at
 WHERE k.expires_at <= now()
RETURNING k.scope;

-- name: get_idempotent
SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at > now();

-- name: finish_idempotent
-- $1 scope, $2 key, $3 fingerprint, $4 status, $5 answer, $6 seconds to keep it
UPDATE idempotency_keys SET
    state = 'done', status = $4, answer = $5,
    expires_at = now() + make_interval(secs => $6::float8)
 WHERE scope = $1 AND key = $2 AND fingerprint = $3 AND state = 'running';

-- name: abandon_idempotent
DELETE FROM idempotency_keys
 WHERE scope = $1 AND key = $2 AND fingerprint = $3 AND state = 'running';

-- name: purge_idempotency
-- $1 purge as of this time (null: now), $2 at most this many rows; rows a concurrent begin is
-- replacing are skipped (and are no longer expired once it commits)
DELETE FROM idempotency_keys
 WHERE (scope, key) IN (SELECT scope, key FROM idempotency_keys
                         WHERE expires_at <= coalesce($1::timestamptz, now())
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED);

-- name: purge_finished
-- retention (Store.purge_finished): $1 queue, $2 a finished state, $3 before, $4 limit: its jobs
-- outside batches that finished at $3 or earlier, oldest first, over jobs_finished (queue, state,
-- finished_at), in a transaction that took the retention lock first (purge_lock). SKIP LOCKED:
-- a row some write holds (a retry of a dead job) is left to the next chunk; the state is
-- checked again on the row
WITH due AS (
    SELECT id FROM jobs
     WHERE queue = $1 AND state = $2 AND batch_id IS NULL
       AND finished_at IS NOT NULL AND finished_at <= $3
     ORDER BY finished_at LIMIT $4
     FOR UPDATE SKIP LOCKED
)
DELETE FROM jobs AS j USING due WHERE j.id = due.id AND j.state = $2;

-- name: purge_batch
-- postgres only: retention of batches (Store.purge_batch; SQLite: due_batch, then the deletes
-- of delete_batch): the oldest finished batch of $1 that nobody holds, of at most $4 jobs,
-- completed at $2 or earlier when all its jobs completed, at $3 or earlier when one is dead or
-- cancelled (NULL: kept for ever), deleted with its jobs (foreign keys), in a transaction that
-- took the retention lock first (purge_lock)
WITH due AS (
    SELECT id FROM batches
     WHERE queue = $1 AND state = 'completed' AND total <= $4
       AND (lease_expires_at IS NULL OR lease_expires_at <= now())
       AND completed_at <= CASE WHEN dead + cancelled > 0 THEN $3::timestamptz
                                ELSE $2::timestamptz END
     ORDER BY id LIMIT 1
     FOR UPDATE SKIP LOCKED
)
DELETE FROM batches AS b USING due WHERE b.id = due.id RETURNING b.id;

-- name: purge_lock
-- postgres only: the retention lock, for this transaction: false when another process holds it
-- (one purges at a time; the others' housekeeping skips the purge until the next round)
SELECT pg_try_advisory_xact_lock(hashtextextended('batchyard retention', 0)) AS taken;

-- name: update_queue
-- $1 name, $2 the default lease of its claims (NULL: none), set if $3; $4 max_active (NULL: no
-- limit), set if $5; $6 retain_completed_seconds (NULL: for ever), set if $7; $8
-- retain_dead_seconds, set if $9
UPDATE queues SET lease_seconds = CASE WHEN $3::boolean THEN $2::float8 ELSE lease_seconds END,
                  max_active = CASE WHEN $5::boolean THEN $4::integer ELSE max_active END,
                  retain_completed_seconds = CASE WHEN $7::boolean THEN $6::float8
                                                  ELSE retain_completed_seconds END,
                  retain_dead_seconds = CASE WHEN $9::boolean THEN $8::float8
                                             ELSE retain_dead_seconds END
 WHERE name = $1 RETURNING *;

-- name: taken_refs
-- $1 queue, $2 refs: those already taken among the queues of its kind
SELECT ref FROM jobs
 WHERE ref_kind = (SELECT kind FROM queues WHERE name = $1) AND ref = ANY($2::text[])
   AND ref IS NOT NULL;

-- name: lease_refs_of_kind
-- postgres only: the ref-ordered claim over every queue of a kind, in one statement (SQLite:
-- claimable_refs_of_kind, then lease_refs, in one transaction): $1 kind, $2 limit,
-- $3 owner, $4 the lease of jobs whose queue has no default lease (NULL: no expiry). Picks
-- over jobs_ref_claim, in its order; each job's lease is its queue's default, looked up by
-- primary key per job claimed (no join over every queue of the kind). `ref >= ''` (true
-- of every ref) makes the index condition a range: without statistics (a table filled since
-- the last ANALYZE) the planner then still walks the index in order, instead of reading every
-- claimable job into a bitmap and sorting them all for each claim. Nothing while a queue of
-- the kind (or a queue named $1: lease_refs) has max_active: lease_refs_of_kind_limited.
WITH picked AS MATERIALIZED (
    SELECT id FROM jobs
     WHERE ref_kind = $1 AND ref IS NOT NULL AND ref >= '' AND run_at <= now()
       AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
       AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
       AND NOT EXISTS (SELECT FROM queues AS g WHERE g.max_active IS NOT NULL AND $1 IN (g.kind, g.name))
     ORDER BY ref
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs SET
        state = 'active',
        attempts = attempts + 1,
        lease_owner = $3,
        lease_token = lease_token + 1,
        lease_id = batchyard_lease_id(jobs.id),
        claimed_at = now(),
        lease_expires_at = now() + make_interval(secs => coalesce(
            (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $4::float8)),
        lease_seconds = coalesce(
            (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $4::float8),
        run_at = coalesce(now() + make_interval(secs => coalesce(
            (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $4::float8)),
                          '9999-12-31T23:59:59Z'::timestamptz),
        updated_at = now()
     WHERE jobs.id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING jobs.*
)
SELECT * FROM claimed ORDER BY ref;

-- name: lease_refs
-- same as lease_refs_of_kind, with: WHERE ref_kind = $1 AND ref IS NOT NULL => WHERE queue = $1 AND ref IS NOT NULL

-- name: claim_ref
-- $1 kind, $2 ref, $3 the job's queue, $4 owner, $5 lease as in lease_refs_of_kind: the job,
-- if it can be claimed now. Not of a queue with max_active (claim_ref_limited).
UPDATE jobs SET
    state = 'active',
    attempts = attempts + 1,
    lease_owner = $4,
    lease_token = lease_token + 1,
    lease_id = batchyard_lease_id(jobs.id),
    claimed_at = now(),
    lease_expires_at = now() + make_interval(secs => coalesce(
        (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $5::float8)),
    lease_seconds = coalesce(
        (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $5::float8),
    run_at = coalesce(now() + make_interval(secs => coalesce(
        (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $5::float8)),
                      '9999-12-31T23:59:59Z'::timestamptz),
    updated_at = now()
 WHERE jobs.ref_kind = $1 AND jobs.ref = $2 AND jobs.queue = $3
   AND jobs.state IN ('available', 'active') AND jobs.run_at <= now()
   AND (jobs.state = 'available' OR jobs.max_attempts IS NULL OR jobs.attempts < jobs.max_attempts)
   AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $3 AND g.max_active IS NOT NULL)
RETURNING jobs.*;

-- name: renew_ref
-- $1 kind, $2 ref, $3 the job's queue, $4 token (NULL: whoever holds it): renews a lease that
-- has not expired for as long as it was granted.
UPDATE jobs SET
    lease_expires_at = now() + make_interval(secs => lease_seconds),
    run_at = coalesce(now() + make_interval(secs => lease_seconds),
                      '9999-12-31T23:59:59Z'::timestamptz),
    updated_at = now()
 WHERE ref_kind = $1 AND ref = $2 AND queue = $3 AND state = 'active'
   AND (lease_expires_at IS NULL OR lease_expires_at > now())
   AND ($4::bigint IS NULL OR lease_token = $4)
RETURNING *;

-- name: get_ref
SELECT * FROM jobs WHERE ref_kind = $1 AND ref = $2;

-- name: list_by_ref
-- $1 queue, $2 states as a reader sees them now (NULL: all; a job whose lease expired counts
-- as available), $3 after this ref, $4 limit
SELECT * FROM jobs
 WHERE queue = $1 AND ref IS NOT NULL AND ref > $3
   AND ($2::text[] IS NULL
        OR (CASE WHEN state = 'active' AND lease_expires_at <= now() THEN 'available'
                 ELSE state END) = ANY($2::text[]))
 ORDER BY ref
 LIMIT $4;

-- name: count_expired
-- jobs of queue $1 whose lease has expired, not claimed again yet
SELECT count(*) AS n FROM jobs
 WHERE queue = $1 AND state = 'active' AND lease_expires_at <= now();

-- name: lease_refs_each_of_kind
-- postgres only: single ref-ordered claims over a kind that arrived together, in one statement
-- (as claim_next): $1 kind, $2 the claimers' names (one job each, handed out in ref order),
-- $3 the lease of jobs whose queue has no default lease. `slot` is the claimer's position in $2.
-- Nothing while a queue of the kind (or named $1) has max_active, as lease_refs_of_kind.
WITH picked AS MATERIALIZED (
    SELECT id, ref FROM jobs
     WHERE ref_kind = $1 AND ref IS NOT NULL AND ref >= '' AND run_at <= now()
       AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
       AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
       AND NOT EXISTS (SELECT FROM queues AS g WHERE g.max_active IS NOT NULL AND $1 IN (g.kind, g.name))
     ORDER BY ref
     LIMIT cardinality($2::text[])
       FOR UPDATE SKIP LOCKED
), slots AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY ref) AS slot FROM picked
), claimed AS (
    UPDATE jobs SET
        state = 'active',
        attempts = attempts + 1,
        lease_owner = ($2::text[])[(SELECT slot FROM slots WHERE slots.id = jobs.id)],
        lease_token = lease_token + 1,
        lease_id = batchyard_lease_id(jobs.id),
        claimed_at = now(),
        lease_expires_at = now() + make_interval(secs => coalesce(
            (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $3::float8)),
        lease_seconds = coalesce(
            (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $3::float8),
        run_at = coalesce(now() + make_interval(secs => coalesce(
            (SELECT q.lease_seconds FROM queues AS q WHERE q.name = jobs.queue), $3::float8)),
                          '9999-12-31T23:59:59Z'::timestamptz),
        updated_at = now()
     WHERE jobs.id = ANY (ARRAY(SELECT id FROM slots))
    RETURNING jobs.*
)
SELECT claimed.*, slots.slot FROM claimed JOIN slots USING (id) ORDER BY slots.slot;

-- name: lease_refs_each
-- same as lease_refs_each_of_kind, with: WHERE ref_kind = $1 AND ref IS NOT NULL => WHERE queue = $1 AND ref IS NOT NULL

-- name: finish_refs
-- postgres only: finishes of jobs with a ref that arrived together (one alone too), in one
-- statement (SQLite: finish_ref, one at a time): $1 kinds, $2 refs, $3 queues, $4 tokens
-- (NULL: whoever holds it). Item by item: a leased job is completed (under that token), one
-- never leased cancelled (only without a token). Items that change nothing are settled one
-- by one (get_ref).
UPDATE jobs SET
    state = CASE WHEN jobs.state = 'active' THEN 'completed' ELSE 'cancelled' END,
    lease_expires_at = NULL,
    finished_at = now(),
    updated_at = now()
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS i (kind, ref, queue, token)
 WHERE jobs.ref_kind = i.kind AND jobs.ref = i.ref AND jobs.queue = i.queue
   AND ((jobs.state = 'active' AND (i.token IS NULL OR jobs.lease_token = i.token))
        OR (jobs.state = 'available' AND i.token IS NULL))
RETURNING jobs.*;

-- name: lease_jobs_in_batch
-- postgres only: SQLite picks first (claimable_in_batch), then leases with lease_jobs
-- same as lease_jobs, with: WHERE queue = $1 AND ref IS NULL => WHERE queue = $1 AND batch_id = $5 AND ref IS NULL

-- name: edit_job
-- Engine.edit_job, one job: $1 id, $2 state (NULL: stay), $3 result values merged at the top
-- level (NULL: none), $4 error (for a move to dead or cancelled), $5 owner (for a move to
-- active), $6 token (NULL: whatever holds the job; else only while it is active under that
-- token), $7 the job's queue (NULL: any), $8 unfinished only (a finished job is left alone),
-- $9 keep place (a move to available goes back to run_at = created_at). A move to another
-- state takes the lease from whoever held it (the token grows). No row back: refused (the
-- store tells why). Many jobs: edit_jobs, the same change item by item.
WITH target AS (
    SELECT id, state AS old_state, coalesce($2, state) AS state,
           coalesce($2, state) <> state AS moved, $3::jsonb AS result, $4::text AS error,
           $5::text AS owner, $9::boolean AS keep_place
      FROM jobs
     WHERE id = $1 AND ($7::text IS NULL OR queue = $7)
       AND ($6::bigint IS NULL OR (state = 'active' AND lease_token = $6))
       AND (NOT $8::boolean OR state IN ('available', 'active'))
       FOR UPDATE
), edited AS (
    UPDATE jobs SET
        state = t.state,
        result = CASE WHEN t.result IS NULL THEN jobs.result
                      WHEN jsonb_typeof(jobs.result) = 'object' THEN jobs.result || t.result
                      ELSE t.result END,
        error = CASE WHEN NOT t.moved THEN jobs.error
                     WHEN t.state IN ('dead', 'cancelled') THEN t.error END,
        attempts = CASE WHEN NOT t.moved THEN jobs.attempts
                        WHEN t.state = 'available' THEN 0
                        WHEN t.state = 'active' THEN jobs.attempts + 1 ELSE jobs.attempts END,
        lease_token = jobs.lease_token + t.moved::int,
        lease_owner = CASE WHEN NOT t.moved THEN jobs.lease_owner
                           WHEN t.state = 'active' THEN t.owner
                           WHEN t.state = 'available' THEN NULL ELSE jobs.lease_owner END,
        lease_id = CASE WHEN NOT t.moved THEN jobs.lease_id
                        WHEN t.state = 'active' THEN batchyard_lease_id(jobs.id)
                        WHEN t.state = 'available' THEN NULL ELSE jobs.lease_id END,
        claimed_at = CASE WHEN NOT t.moved THEN jobs.claimed_at WHEN t.state = 'active' THEN now()
                          WHEN t.state = 'available' THEN NULL ELSE jobs.claimed_at END,
        lease_expires_at = CASE WHEN NOT t.moved THEN jobs.lease_expires_at END,
        lease_seconds = CASE WHEN NOT t.moved THEN jobs.lease_seconds END,
        run_at = CASE WHEN NOT t.moved THEN jobs.run_at
                      WHEN t.state = 'active' THEN '9999-12-31T23:59:59Z'::timestamptz
                      WHEN t.state = 'available' AND t.keep_place THEN jobs.created_at
                      ELSE now() END,
        finished_at = CASE WHEN NOT t.moved THEN jobs.finished_at
                           WHEN t.state IN ('completed', 'dead', 'cancelled') THEN now() END,
        updated_at = now()
      FROM target AS t
     WHERE jobs.id = t.id
    RETURNING jobs.*
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', queue) FROM (SELECT DISTINCT queue FROM edited
                                                     WHERE state = 'available') AS q
)
SELECT * FROM edited WHERE (SELECT count(*) FROM notified) >= 0;

-- name: edit_jobs
-- postgres only: Engine.edit_jobs in one statement (SQLite runs edit_job by executemany), item
-- by item (edit_job's change for many jobs): $1 ids, $2 states (NULL: stay), $3 result values
-- merged at the top level (JSON text; NULL: none), $4 errors (for a move to dead or
-- cancelled), $5 owners (for a move to active), $6 tokens (NULL: whatever holds the job; else
-- only while it is active under that token), $7 unfinished only (a finished job is left
-- alone), $8 keep place (a move to available goes back to run_at = created_at), $9 the jobs'
-- queue (NULL: any). A move to another state takes the lease from whoever held it (the token
-- grows). Rows are locked in id order, so concurrent edits of overlapping jobs cannot
-- deadlock; items left alone are missing from the answer (the store tells why).
WITH items AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::boolean[], $8::boolean[])
                  AS i (id, state, result, error, owner, token, unfinished_only, keep_place)
), target AS (
    SELECT j.id, j.state AS old_state, coalesce(i.state, j.state) AS state,
           coalesce(i.state, j.state) <> j.state AS moved, i.result::jsonb AS result, i.error,
           i.owner, i.keep_place
      FROM jobs AS j JOIN items AS i ON i.id = j.id
     WHERE j.id = ANY ($1::bigint[]) AND ($9::text IS NULL OR j.queue = $9)
       AND (i.token IS NULL OR (j.state = 'active' AND j.lease_token = i.token))
       AND (NOT i.unfinished_only OR j.state IN ('available', 'active'))
     ORDER BY j.id
       FOR UPDATE OF j
), edited AS (
    UPDATE jobs SET
        state = t.state,
        result = CASE WHEN t.result IS NULL THEN jobs.result
                      WHEN jsonb_typeof(jobs.result) = 'object' THEN jobs.result || t.result
                      ELSE t.result END,
        error = CASE WHEN NOT t.moved THEN jobs.error
                     WHEN t.state IN ('dead', 'cancelled') THEN t.error END,
        attempts = CASE WHEN NOT t.moved THEN jobs.attempts
                        WHEN t.state = 'available' THEN 0
                        WHEN t.state = 'active' THEN jobs.attempts + 1 ELSE jobs.attempts END,
        lease_token = jobs.lease_token + t.moved::int,
        lease_owner = CASE WHEN NOT t.moved THEN jobs.lease_owner
                           WHEN t.state = 'active' THEN t.owner
                           WHEN t.state = 'available' THEN NULL ELSE jobs.lease_owner END,
        lease_id = CASE WHEN NOT t.moved THEN jobs.lease_id
                        WHEN t.state = 'active' THEN batchyard_lease_id(jobs.id)
                        WHEN t.state = 'available' THEN NULL ELSE jobs.lease_id END,
        claimed_at = CASE WHEN NOT t.moved THEN jobs.claimed_at WHEN t.state = 'active' THEN now()
                          WHEN t.state = 'available' THEN NULL ELSE jobs.claimed_at END,
        lease_expires_at = CASE WHEN NOT t.moved THEN jobs.lease_expires_at END,
        lease_seconds = CASE WHEN NOT t.moved THEN jobs.lease_seconds END,
        run_at = CASE WHEN NOT t.moved THEN jobs.run_at
                      WHEN t.state = 'active' THEN '9999-12-31T23:59:59Z'::timestamptz
                      WHEN t.state = 'available' AND t.keep_place THEN jobs.created_at
                      ELSE now() END,
        finished_at = CASE WHEN NOT t.moved THEN jobs.finished_at
                           WHEN t.state IN ('completed', 'dead', 'cancelled') THEN now() END,
        updated_at = now()
      FROM target AS t
     WHERE jobs.id = t.id
    RETURNING jobs.*
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', queue) FROM (SELECT DISTINCT queue FROM edited
                                                     WHERE state = 'available') AS q
)
SELECT * FROM edited WHERE (SELECT count(*) FROM notified) >= 0;

-- name: edit_jobs_brief
-- postgres only: Engine.edit_jobs_brief
-- same as edit_jobs, with: RETURNING jobs.* => RETURNING jobs.id, jobs.queue, jobs.state

-- name: release_all
-- Engine.release_all: the active jobs of queue $1 (leased to $2; NULL: to anyone) back to
-- available, each at its place in claim order as of its creation; the attempt does not count.
WITH released AS (
    UPDATE jobs SET
        state = 'available',
        attempts = greatest(attempts - 1, 0),
        run_at = created_at,
        lease_owner = NULL,
        lease_id = NULL,
        claimed_at = NULL,
        lease_expires_at = NULL,
        updated_at = now()
     WHERE queue = $1 AND state = 'active' AND ($2::text IS NULL OR lease_owner = $2)
    RETURNING id
), notified AS MATERIALIZED (
    SELECT pg_notify('batchyard_jobs', $1) FROM (SELECT 1 FROM released LIMIT 1) AS one
)
SELECT count(*) AS n FROM released WHERE (SELECT count(*) FROM notified) >= 0;

-- name: take_batch
-- Engine.take_batch: $1 queue, $2 owner, $3 lease seconds. The oldest finished batch nobody
-- holds (no lease, or an expired one), leased in one statement; a batch another taker is
-- locking right now is skipped, never handed out twice.
UPDATE batches SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3::float8)
 WHERE id = (SELECT id FROM batches
              WHERE queue = $1 AND state = 'completed'
                AND (lease_expires_at IS NULL OR lease_expires_at <= now())
              ORDER BY id LIMIT 1
                FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: find_jobs
-- Engine.find_jobs: the page and, on every row (one row with no job when the page is empty),
-- how many jobs match in all. $3: a JSON array of {"state", "result"?} (NULL: any job);
-- $4: top-level payload values (NULL: any)
WITH matched AS (
    SELECT * FROM jobs
     WHERE queue = $1 AND ($2::bigint IS NULL OR batch_id = $2)
       AND ($3::jsonb IS NULL OR EXISTS (
            SELECT 1 FROM jsonb_array_elements($3::jsonb) AS m
             WHERE jobs.state = m ->> 'state'
               AND (coalesce(m -> 'result', 'null') = 'null' OR jobs.result @> (m -> 'result'))))
       AND ($4::jsonb IS NULL OR jobs.payload @> $4::jsonb)
)
SELECT (SELECT count(*) FROM matched) AS n_matched, page.*
  FROM (SELECT 1) AS one LEFT JOIN (
        SELECT * FROM matched
         ORDER BY id DESC
         LIMIT $5 OFFSET $6) AS page ON true;

-- name: find_jobs_in_id_order
-- same as find_jobs, with: ORDER BY id DESC => ORDER BY id

-- name: find_batches
-- Engine.find_batches, answered like find_jobs, newest first. $2: outcomes (NULL: any);
-- $3: top-level meta values (NULL: any); $8 state (NULL: any); $9 ids above it (NULL: any:
-- find_batches_after answers those oldest first)
WITH matched AS (
    SELECT * FROM batches
     WHERE queue = $1
       AND ($2::text[] IS NULL OR (CASE WHEN dead + cancelled > 0 THEN 'failed'
                                        WHEN available + active > 0 THEN 'pending'
                                        ELSE 'succeeded' END) = ANY ($2::text[]))
       AND ($3::jsonb IS NULL OR meta @> $3::jsonb)
       AND ($4::timestamptz IS NULL OR created_at < $4)
       AND ($5::timestamptz IS NULL OR created_at > $5)
       AND ($8::text IS NULL OR state = $8)
       AND ($9::bigint IS NULL OR id > $9)
)
SELECT (SELECT count(*) FROM matched) AS n_matched, page.*
  FROM (SELECT 1) AS one LEFT JOIN (
        SELECT * FROM matched ORDER BY id DESC LIMIT $6 OFFSET $7) AS page ON true;

-- name: find_batches_after
-- keyset paging ($9), oldest first
-- same as find_batches, with: ORDER BY id DESC LIMIT $6 => ORDER BY id LIMIT $6

-- name: lock_batch
-- the batch a write is about to fill or delete, locked for that transaction
SELECT * FROM batches WHERE id = $1 FOR UPDATE;

-- name: update_batch
UPDATE batches SET meta = meta || $2::jsonb, sealed = coalesce($3, sealed)
 WHERE id = $1 RETURNING *;

-- name: delete_batch
-- its jobs and their logs go with it (foreign keys)
DELETE FROM batches WHERE id = $1 RETURNING *;

-- name: append_log
INSERT INTO job_logs (job_id, message)
SELECT $1, line FROM unnest($2::text[]) WITH ORDINALITY AS given (line, n) ORDER BY n
RETURNING *;

-- name: read_log
SELECT * FROM job_logs WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- Claims of queues with max_active (postgres only; SQLite counts inside its claim statements).
-- The store takes the queue's lock (lock_queues), reads how many leases it may still grant
-- (queue_free: a fresh snapshot, after the lock, sees every claim committed under it), then
-- claims at most that many with a variant of the claim that does not skip limited queues.

-- name: lock_queues
-- postgres only: transaction-scoped advisory locks of queues $1, taken in name order
SELECT count(pg_advisory_xact_lock(hashtextextended('batchyard max_active ' || name, 0))) AS n
  FROM (SELECT DISTINCT name FROM unnest($1::text[]) AS name ORDER BY name) AS locked;

-- name: queue_free
-- postgres only: how many more leases the queues $1 with max_active may grant now (a queue
-- without one has no row); held: active with an unexpired lease (over jobs_queue_state)
SELECT q.name, greatest(q.max_active - (
           SELECT count(*) FROM jobs AS h
            WHERE h.queue = q.name AND h.state = 'active'
              AND (h.lease_expires_at IS NULL OR h.lease_expires_at > now())), 0)::integer AS free
  FROM queues AS q
 WHERE q.name = ANY ($1::text[]) AND q.max_active IS NOT NULL;

-- name: limited_queues
-- postgres only: the queues with max_active whose kind or name is $1 (over queues_limited):
-- those whose jobs the claim statements of queue or kind $1 leave alone
SELECT name FROM queues WHERE max_active IS NOT NULL AND $1 IN (kind, name) ORDER BY name;

-- name: job_queue
-- postgres only: the queue of job $1
SELECT queue FROM jobs WHERE id = $1;

-- name: lease_jobs_limited
-- postgres only: lease_jobs of a queue with max_active, under its lock ($2: what it may grant)
-- same as lease_jobs, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $1 AND g.max_active IS NOT NULL) => AND true

-- name: lease_jobs_in_batch_limited
-- postgres only: the same, under the lock of the queue(s)
-- same as lease_jobs_in_batch, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $1 AND g.max_active IS NOT NULL) => AND true

-- name: claim_next_limited
-- postgres only: claim_next under the queue's lock (as many claimers as it may grant)
-- same as claim_next, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $1 AND g.max_active IS NOT NULL) => AND true

-- name: claim_job_limited
-- postgres only: claim_job under the lock of the job's queue, which may grant one more
-- same as claim_job, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = jobs.queue AND g.max_active IS NOT NULL) => AND true

-- name: claim_ref_limited
-- postgres only: the same, under the lock of the queue(s)
-- same as claim_ref, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.name = $3 AND g.max_active IS NOT NULL) => AND true

-- name: lease_refs_of_kind_limited
-- postgres only: lease_refs_of_kind under the locks of the kind's limited queues, not from
-- queues $5 (those that may grant no more); the store asks for no more than the queue with
-- the fewest left may grant, and repeats
-- same as lease_refs_of_kind, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.max_active IS NOT NULL AND $1 IN (g.kind, g.name)) => AND NOT (queue = ANY ($5::text[]))

-- name: lease_refs_limited
-- postgres only: lease_refs of one queue with max_active, under its lock
-- same as lease_refs, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.max_active IS NOT NULL AND $1 IN (g.kind, g.name)) => AND true

-- name: lease_refs_each_limited
-- postgres only: the same, under the lock of the queue(s)
-- same as lease_refs_each, with: AND NOT EXISTS (SELECT FROM queues AS g WHERE g.max_active IS NOT NULL AND $1 IN (g.kind, g.name)) => AND true
