-- Named queries for SQLite. Timestamps are REAL unix seconds; JSON is TEXT.
-- Every name here must also exist in postgres.sql (a test checks it).

-- name: insert_queue
INSERT INTO queues (name, kind, lease_seconds, max_attempts, backoff_base, backoff_max,
                    requeue_on_complete, meta, max_active, retain_completed_seconds,
                    retain_dead_seconds, created_at)
VALUES (:name, :kind, :lease_seconds, :max_attempts, :backoff_base, :backoff_max,
        :requeue_on_complete, :meta, :max_active, :retain_completed_seconds,
        :retain_dead_seconds, :now)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: get_queue
SELECT * FROM queues WHERE name = :name;

-- name: list_queues
SELECT * FROM queues ORDER BY name;

-- name: list_queues_of_kind
SELECT * FROM queues WHERE kind = :kind ORDER BY name;

-- name: delete_queue
DELETE FROM queues WHERE name = :name RETURNING *;

-- name: count_active
SELECT count(*) AS n FROM jobs WHERE queue = :name AND state = 'active';

-- name: queue_counts
-- kept by the store, once per statement (an index on state would be rewritten on every claim
-- and completion; row triggers cost two statements per job)
SELECT state, n FROM queue_counts WHERE queue = :name;

-- name: tally
-- sqlite only: :n more (or fewer) jobs of :queue in :state; one per queue and state a write changed
INSERT INTO queue_counts (queue, state, n) VALUES (:queue, :state, :n)
ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n;

-- name: job_state
-- sqlite only: the state of a job before a write changes it (inside the same write transaction)
SELECT state FROM jobs WHERE id = :id;

-- name: insert_job
-- a taken ref (jobs_ref) raises, and the store reports AlreadyExists
INSERT INTO jobs (queue, batch_id, unique_key, priority, payload, state, attempts,
                  max_attempts, run_at, created_at, updated_at, ref, ref_kind)
VALUES (:queue, :batch_id, :unique_key, :priority, :payload, 'available', 0,
        coalesce(:max_attempts, (SELECT max_attempts FROM queues WHERE name = :queue)),
        :run_at, :now, :now,
        :ref, CASE WHEN :ref IS NOT NULL THEN (SELECT kind FROM queues WHERE name = :queue) END)
ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: insert_recorded_job
-- sqlite only: insert_job of a job recorded already finished (:state, with :result; finished_at
-- now) or with a result from the start (PostgreSQL's insert_job takes both for every job; here
-- the common job keeps the statement without them, a few per cent faster)
INSERT INTO jobs (queue, batch_id, unique_key, priority, payload, state, attempts,
                  max_attempts, run_at, created_at, updated_at, ref, ref_kind, result,
                  finished_at)
VALUES (:queue, :batch_id, :unique_key, :priority, :payload, :state, 0,
        coalesce(:max_attempts, (SELECT max_attempts FROM queues WHERE name = :queue)),
        :run_at, :now, :now,
        :ref, CASE WHEN :ref IS NOT NULL THEN (SELECT kind FROM queues WHERE name = :queue) END,
        :result, CASE WHEN :state <> 'available' THEN :now END)
ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: get_job_by_key
SELECT * FROM jobs WHERE queue = :queue AND unique_key = :unique_key;

-- name: claimable
-- sqlite only: the claim's pick (PostgreSQL picks inside its claim statements), with each job's
-- state before the claim for the counts. A queue with max_active gives no more than it may
-- grant: max_active less the leases held (its active jobs, from queue_counts, less those whose
-- lease expired, over jobs_leased), counted inside the claim's BEGIN IMMEDIATE transaction;
-- the count is not even made for a queue without (one primary-key probe of queues).
SELECT id, state FROM jobs
 WHERE queue = :queue AND ref IS NULL AND run_at <= :now
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
 ORDER BY priority DESC, run_at, id
 LIMIT min(:limit, coalesce(
        (SELECT max(q.max_active - (coalesce((SELECT c.n FROM queue_counts AS c WHERE c.queue = q.name AND c.state = 'active'), 0)
            - (SELECT count(*) FROM jobs AS h INDEXED BY jobs_leased
                WHERE h.state = 'active' AND h.lease_expires_at IS NOT NULL
                  AND h.run_at <= :now AND h.queue = q.name)), 0)
           FROM queues AS q WHERE q.name = :queue AND q.max_active IS NOT NULL), :limit));

-- name: lease_jobs
-- lease_id: a UUID (version 8) whose first 48 bits are the job id, the rest random, so a lease
-- is found by primary key without an index on lease_id
UPDATE jobs SET
    state = 'active',
    attempts = attempts + 1,
    lease_owner = :owner,
    lease_token = lease_token + 1,
    lease_id = printf('%08x-%04x-8%03x-%04x-%012x', id >> 16, id & 65535, random() & 4095,
        (random() & 16383) | 32768, random() & 281474976710655),
    claimed_at = :now,
    lease_expires_at = :expires_at,
    lease_seconds = :lease_seconds,
    run_at = :lease_run_at,
    updated_at = :now
 WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING *;

-- name: claim_job
UPDATE jobs SET
    state = 'active',
    attempts = attempts + 1,
    lease_owner = :owner,
    lease_token = lease_token + 1,
    lease_id = printf('%08x-%04x-8%03x-%04x-%012x', id >> 16, id & 65535, random() & 4095,
        (random() & 16383) | 32768, random() & 281474976710655),
    claimed_at = :now,
    lease_expires_at = :expires_at,
    lease_seconds = :lease_seconds,
    run_at = :lease_run_at,
    updated_at = :now
 WHERE id = :id AND state IN ('available', 'active') AND run_at <= :now
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
   AND coalesce((SELECT q.max_active > (coalesce((SELECT c.n FROM queue_counts AS c WHERE c.queue = q.name AND c.state = 'active'), 0)
            - (SELECT count(*) FROM jobs AS h INDEXED BY jobs_leased
                WHERE h.state = 'active' AND h.lease_expires_at IS NOT NULL
                  AND h.run_at <= :now AND h.queue = q.name))
                   FROM queues AS q WHERE q.name = jobs.queue AND q.max_active IS NOT NULL), 1)
RETURNING *;

-- name: heartbeat
-- a heartbeat without a length renews the lease for as long as it was granted
UPDATE jobs SET
    lease_seconds = coalesce(:lease_seconds, lease_seconds),
    lease_expires_at = :now + coalesce(:lease_seconds, lease_seconds),
    run_at = coalesce(:now + coalesce(:lease_seconds, lease_seconds), :far_future),
    updated_at = :now
 WHERE id = :id AND state = 'active' AND lease_token = :token
   AND (:queue IS NULL OR queue = :queue)
RETURNING *;

-- name: complete
-- :items is a JSON array of [id, token, result, queue (null: any)]; jobs whose token is not current are left alone
-- (the caller compares the count and rolls back)
UPDATE jobs SET
    state = CASE WHEN q.requeue_on_complete THEN 'available' ELSE 'completed' END,
    result = c.result,
    error = NULL,
    run_at = :now,
    lease_owner = CASE WHEN q.requeue_on_complete THEN NULL ELSE lease_owner END,
    lease_id = CASE WHEN q.requeue_on_complete THEN NULL ELSE lease_id END,
    claimed_at = CASE WHEN q.requeue_on_complete THEN NULL ELSE claimed_at END,
    lease_expires_at = NULL,
    finished_at = :now,
    updated_at = :now
  FROM (SELECT value ->> 0 AS id, value ->> 1 AS token, value -> 2 AS result,
                value ->> 3 AS queue
          FROM json_each(:items)) AS c,
       queues AS q
 WHERE jobs.id = c.id AND jobs.lease_token = c.token AND jobs.state = 'active'
   AND (c.queue IS NULL OR jobs.queue = c.queue)
   AND q.name = jobs.queue
RETURNING *;

-- name: complete_brief
-- same as complete, with: RETURNING * => RETURNING id, queue, state

-- name: fail
UPDATE jobs SET
    state = CASE WHEN :retry_delay IS NULL THEN 'dead' ELSE 'available' END,
    error = :error,
    run_at = :now + coalesce(:retry_delay, 0),
    lease_expires_at = NULL,
    lease_owner = CASE WHEN :retry_delay IS NULL THEN lease_owner END,
    lease_id = CASE WHEN :retry_delay IS NULL THEN lease_id END,
    claimed_at = CASE WHEN :retry_delay IS NULL THEN claimed_at END,
    finished_at = CASE WHEN :retry_delay IS NULL THEN :now END,
    updated_at = :now
 WHERE id = :id AND state = 'active' AND lease_token = :token
   AND (:queue IS NULL OR queue = :queue)
RETURNING *;

-- name: release
UPDATE jobs SET
    state = 'available',
    attempts = max(attempts - 1, 0),
    run_at = :now + :delay,
    lease_owner = NULL,
    lease_id = NULL,
    claimed_at = NULL,
    lease_expires_at = NULL,
    updated_at = :now
 WHERE id = :id AND state = 'active' AND lease_token = :token
   AND (:queue IS NULL OR queue = :queue)
RETURNING *;

-- name: cancel
UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, finished_at = :now,
                updated_at = :now
 WHERE id = :id AND state IN ('available', 'active')
RETURNING *;

-- name: retry
-- a dead or cancelled job back to work now; one more attempt if its attempts were used up
UPDATE jobs SET
    state = 'available',
    run_at = :now,
    max_attempts = CASE WHEN max_attempts IS NOT NULL AND attempts >= max_attempts
                        THEN attempts + 1 ELSE max_attempts END,
    lease_owner = NULL,
    lease_id = NULL,
    claimed_at = NULL,
    lease_expires_at = NULL,
    finished_at = NULL,
    updated_at = :now
 WHERE id = :id AND state IN ('dead', 'cancelled')
RETURNING *;

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: find_by_lease
SELECT * FROM jobs WHERE id = :id AND lease_id = :lease_id AND state = 'active';

-- name: list_jobs
SELECT * FROM jobs WHERE queue = :queue AND id > :after_id ORDER BY id LIMIT :limit;

-- name: list_jobs_in_state
SELECT * FROM jobs WHERE queue = :queue AND state = :state AND id > :after_id
 ORDER BY id LIMIT :limit;

-- name: list_jobs_newest
-- newest first: :after_id is the id the page starts below
SELECT * FROM jobs WHERE queue = :queue AND id < :after_id ORDER BY id DESC LIMIT :limit;

-- name: list_jobs_in_state_newest
SELECT * FROM jobs WHERE queue = :queue AND state = :state AND id < :after_id
 ORDER BY id DESC LIMIT :limit;

-- name: list_claim_order
-- the dashboard's claim order page: the jobs without a ref a claim could take now, in its
-- order (over jobs_claim), after (:priority, :run_at, :id) unless :priority is NULL
SELECT * FROM jobs
 WHERE queue = :queue AND ref IS NULL AND run_at <= :now
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
   AND (:priority IS NULL OR priority < :priority
        OR (priority = :priority AND (run_at, id) > (:run_at, :id)))
 ORDER BY priority DESC, run_at, id
 LIMIT :limit;

-- name: list_ref_claim_order
-- then those with a ref, in ref order (over jobs_queue_ref_claim), after :ref
SELECT * FROM jobs
 WHERE queue = :queue AND ref IS NOT NULL AND ref > :ref AND run_at <= :now
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
 ORDER BY ref
 LIMIT :limit;

-- name: all_queue_counts
-- every queue's jobs per state, from the counts the triggers keep (one small table)
SELECT queue, state, n FROM queue_counts WHERE n <> 0;

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
                finished_at = :now, updated_at = :now
 WHERE state = 'active' AND lease_expires_at IS NOT NULL AND run_at <= :now
   AND max_attempts IS NOT NULL AND attempts >= max_attempts
RETURNING queue;

-- name: purge_finished
-- retention (Store.purge_finished): up to :limit jobs of :queue outside batches in the finished
-- :state that finished at :before or earlier, oldest first, over jobs_finished (queue, state,
-- finished_at); the store tallies them in the same transaction
DELETE FROM jobs
 WHERE id IN (SELECT id FROM jobs
               WHERE queue = :queue AND state = :state AND batch_id IS NULL
                 AND finished_at IS NOT NULL AND finished_at <= :before
               ORDER BY finished_at LIMIT :limit)
RETURNING id;

-- name: due_batch
-- sqlite only: retention of batches (Store.purge_batch): the oldest finished batch of :queue
-- that nobody holds, of at most :max_jobs jobs, completed at :before_completed or earlier when
-- all its jobs completed, at :before_failed or earlier when one is dead or cancelled (NULL:
-- kept for ever); the store deletes it as delete_batch does, in the same transaction
SELECT id FROM batches
 WHERE queue = :queue AND state = 'completed' AND total <= :max_jobs
   AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
   AND completed_at <= CASE WHEN dead + cancelled > 0 THEN :before_failed
                            ELSE :before_completed END
 ORDER BY id LIMIT 1;

-- name: insert_batch
-- :key NULL: none; a taken one violates batches_key (AlreadyExists)
INSERT INTO batches (queue, state, meta, created_at, completed_at, key)
VALUES (:queue, :state, :meta, :now, CASE WHEN :state = 'completed' THEN :now END, :key)
RETURNING *;

-- name: get_batch_by_key
SELECT * FROM batches WHERE queue = :queue AND key = :key;

-- name: cancel_batch
-- Engine.cancel_batch: every job of batch :id that nobody holds (available, delayed or not) is
-- cancelled; active and finished ones are left alone (the store counts them by queue; the
-- batch's counts and completion follow by trigger)
UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, finished_at = :now,
                updated_at = :now
 WHERE batch_id = :id AND state = 'available'
RETURNING queue;

-- name: get_batch
SELECT * FROM batches WHERE id = :id;

-- name: batch_jobs
-- :limit -1: all
SELECT * FROM jobs WHERE batch_id = :batch_id AND id > :after_id ORDER BY id LIMIT :limit;

-- name: release_all
-- Engine.release_all: the active jobs of :queue (leased to :owner; NULL: to anyone) back to
-- available, each at its place in claim order as of its creation; the attempt does not count
UPDATE jobs SET
    state = 'available',
    attempts = max(attempts - 1, 0),
    run_at = created_at,
    lease_owner = NULL,
    lease_id = NULL,
    claimed_at = NULL,
    lease_expires_at = NULL,
    updated_at = :now
 WHERE queue = :queue AND state = 'active' AND (:owner IS NULL OR lease_owner = :owner);

-- name: take_batch
-- Engine.take_batch: the oldest finished batch of :queue nobody holds (no lease, or an expired
-- one), leased to :owner until :until (one writer: nobody takes it meanwhile)
UPDATE batches SET lease_owner = :owner, lease_expires_at = :until
 WHERE id = (SELECT id FROM batches
              WHERE queue = :queue AND state = 'completed'
                AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
              ORDER BY id LIMIT 1)
RETURNING *;

-- name: begin_idempotent
-- a row back: the caller owns the key now (new, or replacing an expired row); none: an
-- unexpired row is there (get_idempotent reads it, in the same transaction)
INSERT INTO idempotency_keys (scope, key, fingerprint, state, status, answer, created_at,
                              expires_at)
VALUES (:scope, :key, :fingerprint, 'running', NULL, NULL, :now, :now + :hold_seconds)
ON CONFLICT (scope, key) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    state = 'running',
    status = NULL,
    answer = NULL,
    created_at = excluded.created_at,
    expires_at = excluded.expires_at
 WHERE idempotency_keys.expires_at <= :now
RETURNING scope;

-- name: get_idempotent
SELECT * FROM idempotency_keys WHERE scope = :scope AND key = :key AND expires_at > :now;

-- name: finish_idempotent
UPDATE idempotency_keys SET
    state = 'done', status = :status, answer = :answer, expires_at = :now + :ttl_seconds
 WHERE scope = :scope AND key = :key AND fingerprint = :fingerprint AND state = 'running';

-- name: abandon_idempotent
DELETE FROM idempotency_keys
 WHERE scope = :scope AND key = :key AND fingerprint = :fingerprint AND state = 'running';

-- name: purge_idempotency
-- one bounded chunk (SQLite has no DELETE … LIMIT by default)
DELETE FROM idempotency_keys
 WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= :now
                  ORDER BY expires_at LIMIT :limit);

-- name: record_bulk_enqueue
-- sqlite only: a big enqueue, recorded before its first slice is written (migration 0005)
INSERT INTO bulk_enqueues (queue, batch_id, done, created_at)
VALUES (:queue, :batch_id, 0, :now)
RETURNING id;

-- name: record_bulk_enqueue_jobs
-- sqlite only: the jobs of a big enqueue, apart from its progress (migration 0005)
INSERT INTO bulk_enqueue_jobs (bulk_id, jobs) VALUES (:id, :jobs);

-- name: bulk_enqueue_written
-- sqlite only: the next slice of a big enqueue is written; no row: its queue was deleted
UPDATE bulk_enqueues SET done = :done WHERE id = :id RETURNING id;

-- name: forget_bulk_enqueue
-- sqlite only: a big enqueue is written whole (its jobs go with it)
DELETE FROM bulk_enqueues WHERE id = :id;

-- name: unfinished_bulk_enqueues
-- sqlite only: what a stopped server left half written
SELECT b.id, b.queue, b.batch_id, b.done, j.jobs
  FROM bulk_enqueues AS b JOIN bulk_enqueue_jobs AS j ON j.bulk_id = b.id
 ORDER BY b.id;

-- name: update_queue
-- :lease_seconds set if :set_lease_seconds, :max_active (NULL: no limit) if :set_max_active, each
-- retention (NULL: for ever) if its :set_…
UPDATE queues SET
    lease_seconds = CASE WHEN :set_lease_seconds THEN :lease_seconds ELSE lease_seconds END,
    max_active = CASE WHEN :set_max_active THEN :max_active ELSE max_active END,
    retain_completed_seconds = CASE WHEN :set_retain_completed_seconds
                                    THEN :retain_completed_seconds
                                    ELSE retain_completed_seconds END,
    retain_dead_seconds = CASE WHEN :set_retain_dead_seconds THEN :retain_dead_seconds
                               ELSE retain_dead_seconds END
 WHERE name = :name RETURNING *;

-- name: taken_refs
SELECT ref FROM jobs
 WHERE ref_kind = (SELECT kind FROM queues WHERE name = :queue)
   AND ref IN (SELECT value FROM json_each(:refs)) AND ref IS NOT NULL;

-- name: claimable_refs_of_kind
-- sqlite only: the pick of the ref-ordered claim over every queue of a kind (over
-- jobs_ref_claim, in its order), with each job's queue and state before the claim
SELECT id, queue, state FROM jobs
 WHERE ref_kind = :kind AND ref IS NOT NULL AND run_at <= :now
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
 ORDER BY ref
 LIMIT :limit;

-- name: claimable_refs
-- sqlite only: the same pick within one queue (over jobs_queue_ref_claim), no more than a
-- queue with max_active may grant (as claimable)
SELECT id, queue, state FROM jobs
 WHERE queue = :queue AND ref IS NOT NULL AND run_at <= :now
   AND (state = 'available' OR (state = 'active' AND lease_expires_at IS NOT NULL))
   AND (state = 'available' OR max_attempts IS NULL OR attempts < max_attempts)
 ORDER BY ref
 LIMIT min(:limit, coalesce(
        (SELECT max(q.max_active - (coalesce((SELECT c.n FROM queue_counts AS c WHERE c.queue = q.name AND c.state = 'active'), 0)
            - (SELECT count(*) FROM jobs AS h INDEXED BY jobs_leased
                WHERE h.state = 'active' AND h.lease_expires_at IS NOT NULL
                  AND h.run_at <= :now AND h.queue = q.name)), 0)
           FROM queues AS q WHERE q.name = :queue AND q.max_active IS NOT NULL), :limit));

-- name: claimable_refs_of_kind_except
-- sqlite only: claimable_refs_of_kind, not of the queues :full (a JSON array: the limited
-- queues that may grant no more); the store asks for no more than the limited queue with the
-- fewest left may grant, and repeats
-- same as claimable_refs_of_kind, with: WHERE ref_kind = :kind AND => WHERE ref_kind = :kind AND queue NOT IN (SELECT value FROM json_each(:full)) AND

-- name: queue_free_of_kind
-- sqlite only: the queues of :kind with max_active (over queues_limited), each with how many
-- more leases it may grant now (as claimable)
SELECT q.name, max(q.max_active - (coalesce((SELECT c.n FROM queue_counts AS c WHERE c.queue = q.name AND c.state = 'active'), 0)
            - (SELECT count(*) FROM jobs AS h INDEXED BY jobs_leased
                WHERE h.state = 'active' AND h.lease_expires_at IS NOT NULL
                  AND h.run_at <= :now AND h.queue = q.name)), 0) AS free
  FROM queues AS q WHERE q.kind = :kind AND q.max_active IS NOT NULL;

-- name: lease_refs
-- sqlite only: lease the picked jobs, each for its queue's default lease (else :default_lease;
-- NULL: no expiry)
UPDATE jobs SET
    state = 'active',
    attempts = attempts + 1,
    lease_owner = :owner,
    lease_token = lease_token + 1,
    lease_id = printf('%08x-%04x-8%03x-%04x-%012x', jobs.id >> 16, jobs.id & 65535,
        random() & 4095, (random() & 16383) | 32768, random() & 281474976710655),
    claimed_at = :now,
    lease_expires_at = :now + coalesce(q.lease_seconds, :default_lease),
    lease_seconds = coalesce(q.lease_seconds, :default_lease),
    run_at = coalesce(:now + coalesce(q.lease_seconds, :default_lease), :far_future),
    updated_at = :now
  FROM queues AS q
 WHERE jobs.id IN (SELECT value FROM json_each(:ids)) AND q.name = jobs.queue
RETURNING *;

-- name: ref_state
-- sqlite only: the id, queue and state of the job with a ref (inside a write transaction)
SELECT id, queue, state FROM jobs WHERE ref_kind = :kind AND ref = :ref;

-- name: claim_ref
UPDATE jobs SET
    state = 'active',
    attempts = attempts + 1,
    lease_owner = :owner,
    lease_token = lease_token + 1,
    lease_id = printf('%08x-%04x-8%03x-%04x-%012x', jobs.id >> 16, jobs.id & 65535,
        random() & 4095, (random() & 16383) | 32768, random() & 281474976710655),
    claimed_at = :now,
    lease_expires_at = :now + coalesce(q.lease_seconds, :default_lease),
    lease_seconds = coalesce(q.lease_seconds, :default_lease),
    run_at = coalesce(:now + coalesce(q.lease_seconds, :default_lease), :far_future),
    updated_at = :now
  FROM queues AS q
 WHERE jobs.ref_kind = :kind AND jobs.ref = :ref AND jobs.queue = :queue AND q.name = jobs.queue
   AND jobs.state IN ('available', 'active') AND jobs.run_at <= :now
   AND (jobs.state = 'available' OR jobs.max_attempts IS NULL OR jobs.attempts < jobs.max_attempts)
   AND (q.max_active IS NULL OR q.max_active > (coalesce((SELECT c.n FROM queue_counts AS c WHERE c.queue = q.name AND c.state = 'active'), 0)
            - (SELECT count(*) FROM jobs AS h INDEXED BY jobs_leased
                WHERE h.state = 'active' AND h.lease_expires_at IS NOT NULL
                  AND h.run_at <= :now AND h.queue = q.name)))
RETURNING *;

-- name: renew_ref
UPDATE jobs SET
    lease_expires_at = :now + lease_seconds,
    run_at = coalesce(:now + lease_seconds, :far_future),
    updated_at = :now
 WHERE ref_kind = :kind AND ref = :ref AND queue = :queue AND state = 'active'
   AND (lease_expires_at IS NULL OR lease_expires_at > :now)
   AND (:token IS NULL OR lease_token = :token)
RETURNING *;

-- name: finish_ref
-- sqlite only: (PostgreSQL: finish_refs, for many at once) a leased job is completed (under
-- :token, when given), one never leased cancelled (only without a token)
UPDATE jobs SET
    state = CASE WHEN state = 'active' THEN 'completed' ELSE 'cancelled' END,
    lease_expires_at = NULL,
    finished_at = :now,
    updated_at = :now
 WHERE ref_kind = :kind AND ref = :ref AND queue = :queue
   AND ((state = 'active' AND (:token IS NULL OR lease_token = :token))
        OR (state = 'available' AND :token IS NULL))
RETURNING *;

-- name: get_ref
SELECT * FROM jobs WHERE ref_kind = :kind AND ref = :ref;

-- name: list_by_ref
-- :states a JSON array of states as a reader sees them now (NULL: all; a job whose lease
-- expired counts as available)
SELECT * FROM jobs
 WHERE queue = :queue AND ref IS NOT NULL AND ref > :after
   AND (:states IS NULL
        OR (CASE WHEN state = 'active' AND lease_expires_at <= :now THEN 'available'
                 ELSE state END) IN (SELECT value FROM json_each(:states)))
 ORDER BY ref
 LIMIT :limit;

-- name: count_expired
SELECT count(*) AS n FROM jobs
 WHERE queue = :queue AND state = 'active' AND lease_expires_at IS NOT NULL
   AND run_at <= :now;

-- name: claimable_in_batch
-- sqlite only: the pick of a claim within one batch
-- same as claimable, with: WHERE queue = :queue AND => WHERE queue = :queue AND batch_id = :batch_id AND

-- name: edit_job
-- Engine.edit_job and edit_jobs, one job per execution (executemany: bound values, no JSON to
-- parse), after the store read the jobs: :state, :moved (whether :state is another state than
-- the job's), :result (the merged result as JSON text), :error, :owner, :keep_place. A move
-- takes the lease from whoever held it (the token grows); keep place: a move to available
-- goes back to run_at = created_at.
UPDATE jobs SET
    state = :state,
    result = :result,
    error = CASE WHEN NOT :moved THEN error WHEN :state IN ('dead', 'cancelled') THEN :error END,
    attempts = CASE WHEN NOT :moved THEN attempts
                    WHEN :state = 'available' THEN 0
                    WHEN :state = 'active' THEN attempts + 1 ELSE attempts END,
    lease_token = lease_token + :moved,
    lease_owner = CASE WHEN NOT :moved THEN lease_owner WHEN :state = 'active' THEN :owner
                       WHEN :state = 'available' THEN NULL ELSE lease_owner END,
    lease_id = CASE WHEN NOT :moved THEN lease_id
                    WHEN :state = 'active' THEN printf('%08x-%04x-8%03x-%04x-%012x', id >> 16,
                        id & 65535, random() & 4095, (random() & 16383) | 32768,
                        random() & 281474976710655)
                    WHEN :state = 'available' THEN NULL ELSE lease_id END,
    claimed_at = CASE WHEN NOT :moved THEN claimed_at WHEN :state = 'active' THEN :now
                      WHEN :state = 'available' THEN NULL ELSE claimed_at END,
    lease_expires_at = CASE WHEN NOT :moved THEN lease_expires_at END,
    lease_seconds = CASE WHEN NOT :moved THEN lease_seconds END,
    run_at = CASE WHEN NOT :moved THEN run_at WHEN :state = 'active' THEN :far_future
                  WHEN :state = 'available' AND :keep_place THEN created_at
                  ELSE :now END,
    finished_at = CASE WHEN NOT :moved THEN finished_at
                       WHEN :state IN ('completed', 'dead', 'cancelled') THEN :now END,
    updated_at = :now
 WHERE id = :id;


-- name: edited_jobs
-- sqlite only: the jobs edit_jobs changed, read back (:ids a JSON array)
SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: jobs_to_edit
-- sqlite only: what edit_jobs checks and merges of the jobs it is about to change (:ids a JSON
-- array)
SELECT id, queue, state, lease_token, result FROM jobs
 WHERE id IN (SELECT value FROM json_each(:ids));

-- name: find_jobs
-- Engine.find_jobs: the page and, on every row (one row with no job when the page is empty),
-- how many jobs match in all. :matches: a JSON array of {"state", "result"?} (NULL: any job);
-- :payload: a JSON object of top-level values (NULL: any)
WITH matched AS (
    SELECT * FROM jobs
     WHERE queue = :queue AND (:batch_id IS NULL OR batch_id = :batch_id)
       AND (:matches IS NULL OR EXISTS (
            SELECT 1 FROM json_each(:matches) AS m
             WHERE jobs.state = m.value ->> '$.state'
               AND NOT EXISTS (
                    SELECT 1 FROM json_each(m.value, '$.result') AS f
                     WHERE jobs.result -> ('$."' || f.key || '"')
                           IS NOT m.value -> ('$.result."' || f.key || '"'))))
       AND (:payload IS NULL OR NOT EXISTS (
            SELECT 1 FROM json_each(:payload) AS f
             WHERE jobs.payload -> ('$."' || f.key || '"')
                   IS NOT :payload -> ('$."' || f.key || '"')))
)
SELECT (SELECT count(*) FROM matched) AS n_matched, page.*
  FROM (SELECT 1) AS one LEFT JOIN (
        SELECT * FROM matched
         ORDER BY id DESC
         LIMIT :limit OFFSET :offset) AS page ON true;

-- name: find_jobs_in_id_order
-- same as find_jobs, with: ORDER BY id DESC => ORDER BY id

-- name: find_batches
-- Engine.find_batches, answered like find_jobs, newest first. :outcomes: a JSON array of
-- outcomes (NULL: any); :meta: a JSON object of top-level values (NULL: any); :state (NULL:
-- any); :after_id: only ids above it (NULL: any)
WITH matched AS (
    SELECT * FROM batches
     WHERE queue = :queue
       AND (:outcomes IS NULL OR (CASE WHEN dead + cancelled > 0 THEN 'failed'
                                       WHEN available + active > 0 THEN 'pending'
                                       ELSE 'succeeded' END)
                                 IN (SELECT value FROM json_each(:outcomes)))
       AND (:meta IS NULL OR NOT EXISTS (
            SELECT 1 FROM json_each(:meta) AS f
             WHERE batches.meta -> ('$."' || f.key || '"')
                   IS NOT :meta -> ('$."' || f.key || '"')))
       AND (:created_before IS NULL OR created_at < :created_before)
       AND (:created_after IS NULL OR created_at > :created_after)
       AND (:state IS NULL OR state = :state)
       AND (:after_id IS NULL OR id > :after_id)
)
SELECT (SELECT count(*) FROM matched) AS n_matched, page.*
  FROM (SELECT 1) AS one LEFT JOIN (
        SELECT * FROM matched ORDER BY id DESC LIMIT :limit OFFSET :offset) AS page ON true;

-- name: find_batches_after
-- keyset paging (:after_id), oldest first
-- same as find_batches, with: ORDER BY id DESC LIMIT => ORDER BY id LIMIT

-- name: lock_batch
-- the batch a write is about to fill or delete (PostgreSQL locks it: FOR UPDATE)
SELECT * FROM batches WHERE id = :id;

-- name: update_batch
UPDATE batches SET meta = :meta, sealed = coalesce(:sealed, sealed) WHERE id = :id RETURNING *;

-- name: batch_states
-- sqlite only: how many jobs of the batch are in each state (to tally a deletion)
SELECT queue, state, count(*) AS n FROM jobs WHERE batch_id = :id GROUP BY queue, state;

-- name: delete_batch_jobs
-- sqlite only: the batch's jobs go before it (their logs with them, by foreign key)
DELETE FROM jobs WHERE batch_id = :id;

-- name: delete_batch
DELETE FROM batches WHERE id = :id RETURNING *;

-- name: append_log
INSERT INTO job_logs (job_id, at, message)
SELECT :job_id, :now, value FROM json_each(:lines) ORDER BY key
RETURNING *;

-- name: read_log
SELECT * FROM job_logs WHERE job_id = :job_id AND id > :after ORDER BY id LIMIT :limit;
