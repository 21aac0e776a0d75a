-- The batch exchange for consumers that talk to PostgreSQL directly (issue 11): the original
-- batch-exchange's tables `batch` and `entry` as views over batchyard's own batches and jobs of
-- queue 'exchange', with INSTEAD OF triggers so its INSERT/UPDATE/DELETE statements keep
-- working, and its stored functions. Nothing is stored twice: the HTTP face and these views see
-- and change the same rows, and batch counts and completion stay the engine's business (the
-- statement-level triggers jobs_batch_insert/jobs_batch_update of 0001), so both faces agree on
-- when a batch is done. Every job change below mirrors what the engine's own statement for it
-- sets (store/sql/postgres.sql: lease_jobs, edit_job, release_all, take_batch), so a row
-- changed here is indistinguishable from one changed through the engine.
--
-- Objects go to schema public, the default search path the original's JDBC users rely on.
-- Statements here end at a line ending in a semicolon outside dollar quotes (sqlfiles.py).

-- The face ensures this queue too; SQL-only installations need it before their first INSERT.
-- No lease expiry and no attempt limit: a claim holds its entry until it is updated or reset,
-- as in the original.
INSERT INTO queues (name, kind, lease_seconds, max_attempts, backoff_base, backoff_max,
                    requeue_on_complete, meta)
VALUES ('exchange', 'exchange', NULL, NULL, 1, 3600, false, '{}')
ON CONFLICT (name) DO NOTHING;

-- The original's column types, so its clients' casts ('OK'::entry_status) and JDBC PGobjects
-- of these type names keep working.
CREATE TYPE public.batch_status AS ENUM ('PENDING', 'COMPLETED');
CREATE TYPE public.entry_status AS ENUM ('PENDING', 'ACTIVE', 'OK', 'FAILED', 'IGNORED');

-- Engine state of an entry status (the inverse of the CASE in the entry view).
CREATE FUNCTION public.batchyard_exchange_state(status public.entry_status) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE status WHEN 'PENDING' THEN 'available' WHEN 'ACTIVE' THEN 'active'
                       WHEN 'OK' THEN 'completed' WHEN 'FAILED' THEN 'dead'
                       WHEN 'IGNORED' THEN 'cancelled' END
$$;

-- Column names and order are the original's: its Java client reads claim results by position.
-- incompleteentries is derived from the engine's counts, so it is exact under concurrency
-- (the original's own counter could drift and leave batches PENDING for ever).
CREATE VIEW public.batch AS
SELECT b.id,
       b.meta ->> 'name' AS name,
       (CASE WHEN b.state = 'completed' THEN 'COMPLETED' ELSE 'PENDING' END)::public.batch_status
           AS status,
       b.created_at AS timeofcreation,
       b.available + b.active AS incompleteentries
  FROM batches AS b
 WHERE b.queue = 'exchange';

-- An entry is a job of queue 'exchange'. The HTTP face keeps content as a JSON value (a string,
-- normally): here it is the UTF-8 bytes of that string, or the JSON text of any other value.
-- Updates land in the job's result (its payload is what the producer sent), so the metadata
-- a consumer wrote there wins over the producer's. JSON null reads as SQL NULL, as the
-- original's nullable jsonb columns did.
CREATE VIEW public.entry AS
SELECT j.id,
       (CASE j.state WHEN 'available' THEN 'PENDING' WHEN 'active' THEN 'ACTIVE'
                     WHEN 'completed' THEN 'OK' WHEN 'dead' THEN 'FAILED'
                     WHEN 'cancelled' THEN 'IGNORED' END)::public.entry_status AS status,
       j.created_at AS timeofcreation,
       j.finished_at AS timeofcompletion,
       j.payload ->> 'tracking_id' AS trackingid,
       j.batch_id AS batch,
       coalesce((j.payload ->> 'is_continued')::boolean, false) AS iscontinued,
       convert_to(CASE WHEN jsonb_typeof(j.payload -> 'content') = 'string'
                       THEN j.payload ->> 'content'
                       ELSE (j.payload -> 'content')::text END, 'UTF8') AS content,
       nullif(CASE WHEN jsonb_typeof(j.result) = 'object' AND j.result ? 'metadata'
                   THEN j.result -> 'metadata'
                   ELSE j.payload -> 'metadata' END, 'null') AS metadata,
       nullif(CASE WHEN jsonb_typeof(j.result) = 'object' THEN j.result -> 'diagnostics' END,
              'null') AS diagnostics,
       j.priority
  FROM jobs AS j
 WHERE j.queue = 'exchange';

-- The HTTP face refuses what it could not read back, so SQL writers are held to the same
-- rules: diagnostics are a JSON array of {"level": OK|WARNING|ERROR, "message": non-empty
-- string of at most 10,000 characters}.
CREATE FUNCTION public.batchyard_exchange_check_diagnostics(diagnostics jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF diagnostics IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(diagnostics) <> 'array' OR EXISTS (
        SELECT 1 FROM jsonb_array_elements(diagnostics) AS d (item)
         WHERE jsonb_typeof(d.item) <> 'object'
            OR coalesce(d.item ->> 'level', '') NOT IN ('OK', 'WARNING', 'ERROR')
            OR jsonb_typeof(d.item -> 'message') IS DISTINCT FROM 'string'
            OR length(d.item ->> 'message') NOT BETWEEN 1 AND 10000)
    THEN
        RAISE EXCEPTION 'diagnostics must be a JSON array of {"level": "OK"|"WARNING"|"ERROR", "message": a non-empty string}'
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

-- INSERT INTO batch (name): an empty batch is finished already, so it is made completed; the
-- engine's jobs_batch_insert trigger makes it pending again as its entries arrive, in this
-- transaction or a later one (the original never completed an empty batch).
CREATE FUNCTION public.batchyard_exchange_batch_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- ids come from the batches identity: one picked here would collide with a later one
    IF NEW.id IS NOT NULL THEN
        RAISE EXCEPTION 'batch ids are assigned by batchyard: leave id out'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    IF length(NEW.name) > 1000 THEN
        RAISE EXCEPTION 'a batch name has at most 1000 characters'
            USING ERRCODE = 'check_violation';
    END IF;
    -- the queue may have been deleted (with its batches) through the engine since migration
    INSERT INTO queues (name, kind, lease_seconds, max_attempts, backoff_base, backoff_max,
                        requeue_on_complete, meta)
    VALUES ('exchange', 'exchange', NULL, NULL, 1, 3600, false, '{}')
    ON CONFLICT (name) DO NOTHING;
    -- the HTTP face's name is a string: a batch without one gets the empty name
    INSERT INTO batches (queue, state, meta, created_at, completed_at)
    VALUES ('exchange', 'completed', jsonb_build_object('name', coalesce(NEW.name, '')), now(),
            now())
    RETURNING id INTO NEW.id;
    -- what INSERT ... RETURNING shows: the row as the view has it
    SELECT * INTO NEW FROM public.batch WHERE id = NEW.id;
    RETURN NEW;
END $$;

-- DELETE FROM batch acknowledges a batch: it goes with its entries (foreign keys). As through
-- HTTP, a batch with unfinished entries stays: its consumers still hold or will claim them.
CREATE FUNCTION public.batchyard_exchange_batch_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unfinished integer;
BEGIN
    -- locked, so no entry can join it (jobs_batch_insert locks it too) between check and delete
    SELECT b.available + b.active INTO unfinished
      FROM batches AS b WHERE b.id = OLD.id AND b.queue = 'exchange' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted meanwhile by someone else: not counted as deleted here
    END IF;
    IF unfinished > 0 THEN
        RAISE EXCEPTION 'batch % has entries that are not finished', OLD.id
            USING ERRCODE = 'object_in_use';
    END IF;
    DELETE FROM batches WHERE id = OLD.id;
    RETURN OLD;
END $$;

-- INSERT INTO entry (batch, trackingid, content, metadata, priority [, status, iscontinued,
-- diagnostics]): a job of the batch, enqueued now with no delay (so run_at = created_at, the
-- place a reset gives back), priority 4 by default as in the original. An entry may arrive
-- finished (OK/FAILED/IGNORED, finished_at now); never ACTIVE: only a claim makes an entry
-- active. The job row is one INSERT, so the engine's statement trigger counts it into its
-- batch.
CREATE FUNCTION public.batchyard_exchange_entry_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_state text := public.batchyard_exchange_state(coalesce(NEW.status, 'PENDING'));
    new_id bigint;
BEGIN
    IF NEW.id IS NOT NULL THEN
        RAISE EXCEPTION 'entry ids are assigned by batchyard: leave id out'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    IF new_state = 'active' THEN
        RAISE EXCEPTION 'an entry cannot be created ACTIVE (claim it with claim_pending_entries)'
            USING ERRCODE = 'check_violation';
    END IF;
    -- the original's NOT NULL columns, plus the HTTP face's limits on tracking ids
    IF NEW.trackingid IS NULL OR NEW.content IS NULL THEN
        RAISE EXCEPTION 'an entry needs a trackingid and a content'
            USING ERRCODE = 'not_null_violation';
    END IF;
    IF length(NEW.trackingid) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'a trackingid is a non-empty string of at most 1000 characters'
            USING ERRCODE = 'check_violation';
    END IF;
    PERFORM public.batchyard_exchange_check_diagnostics(NEW.diagnostics);
    -- a batch of another queue is no exchange batch: as unknown as a missing one
    PERFORM 1 FROM batches WHERE id = NEW.batch AND queue = 'exchange';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % does not exist', coalesce(NEW.batch::text, 'NULL')
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO jobs (queue, batch_id, priority, payload, state, attempts, max_attempts, run_at,
                      result, created_at, updated_at, finished_at)
    VALUES ('exchange', NEW.batch, coalesce(NEW.priority, 4),
            jsonb_build_object('tracking_id', NEW.trackingid,
                               'content', to_jsonb(convert_from(NEW.content, 'UTF8')),
                               'is_continued', coalesce(NEW.iscontinued, false),
                               'metadata', NEW.metadata),
            new_state, 0, (SELECT max_attempts FROM queues WHERE name = 'exchange'), now(),
            CASE WHEN NEW.diagnostics IS NOT NULL
                 THEN jsonb_build_object('diagnostics', NEW.diagnostics) END,
            now(), now(), CASE WHEN new_state <> 'available' THEN now() END)
    RETURNING id INTO new_id;
    -- wakes HTTP claims long-polling for work (PostgreSQL folds repeats within a transaction)
    IF new_state = 'available' THEN
        PERFORM pg_notify('batchyard_jobs', 'exchange');
    END IF;
    SELECT * INTO NEW FROM public.entry WHERE id = new_id;
    RETURN NEW;
END $$;

-- UPDATE entry SET status = ..., diagnostics = ..., metadata = ... WHERE id = ...: the engine's
-- edit_job. A trigger on a view cannot tell which columns the statement named, so a column
-- counts as set when its new value differs from the row the statement read: a statement that
-- writes back the values it read (an ORM saving the whole row) changes only what it changed.
CREATE FUNCTION public.batchyard_exchange_entry_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_state text;
    current_result jsonb;
    target_state text;
    moved boolean;
BEGIN
    -- The view's row was read without a lock; the job as it is now, locked, decides: two
    -- updates of one entry are serialized, and the second sees the first one's outcome.
    SELECT j.state, j.result INTO current_state, current_result
      FROM jobs AS j WHERE j.id = OLD.id AND j.queue = 'exchange' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- acknowledged with its batch meanwhile: nothing updated
    END IF;
    IF current_state NOT IN ('available', 'active') THEN
        RAISE EXCEPTION 'Cannot update an already completed entry';
    END IF;
    IF NEW.status IS NULL THEN
        RAISE EXCEPTION 'an entry''s status cannot be NULL' USING ERRCODE = 'not_null_violation';
    END IF;
    -- the rest is what the producer sent, or the engine's to keep (timeofcompletion is set by
    -- the move itself, as the original's trigger did, so a value written there is ignored)
    IF (NEW.id, NEW.timeofcreation, NEW.trackingid, NEW.batch, NEW.iscontinued, NEW.content,
        NEW.priority)
       IS DISTINCT FROM
       (OLD.id, OLD.timeofcreation, OLD.trackingid, OLD.batch, OLD.iscontinued, OLD.content,
        OLD.priority)
    THEN
        RAISE EXCEPTION 'only the status, diagnostics and metadata of an entry can be updated'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    target_state := CASE WHEN NEW.status IS DISTINCT FROM OLD.status
                         THEN public.batchyard_exchange_state(NEW.status)
                         ELSE current_state END;
    moved := target_state <> current_state;
    -- Written values merge into the result at the top level, as edit_job merges them; NULL
    -- diagnostics drop the key (the HTTP face then shows none), NULL metadata is kept as JSON
    -- null so it still overrides the producer's.
    IF NEW.diagnostics IS DISTINCT FROM OLD.diagnostics THEN
        PERFORM public.batchyard_exchange_check_diagnostics(NEW.diagnostics);
        current_result := CASE WHEN jsonb_typeof(current_result) = 'object'
                               THEN current_result ELSE '{}' END;
        current_result := CASE WHEN NEW.diagnostics IS NULL THEN current_result - 'diagnostics'
                               ELSE current_result
                                    || jsonb_build_object('diagnostics', NEW.diagnostics) END;
    END IF;
    IF NEW.metadata IS DISTINCT FROM OLD.metadata THEN
        current_result := CASE WHEN jsonb_typeof(current_result) = 'object'
                               THEN current_result ELSE '{}' END
                          || jsonb_build_object('metadata', NEW.metadata);
    END IF;
    -- A move takes the lease from whoever held it (the token grows), exactly as edit_job
    -- does: to PENDING back at the entry's place in claim order (run_at = created_at, edit_job's
    -- keep_place), to ACTIVE held without expiry by owner 'sql', to a finished status with
    -- finished_at now (who held it stays on record, as edit_job keeps it).
    UPDATE jobs SET
        state = target_state,
        result = current_result,
        error = CASE WHEN moved THEN NULL ELSE error END,
        attempts = CASE WHEN NOT moved THEN attempts
                        WHEN target_state = 'available' THEN 0
                        WHEN target_state = 'active' THEN attempts + 1 ELSE attempts END,
        lease_token = lease_token + moved::int,
        lease_owner = CASE WHEN NOT moved THEN lease_owner WHEN target_state = 'active' THEN 'sql'
                           WHEN target_state = 'available' THEN NULL ELSE lease_owner END,
        lease_id = CASE WHEN NOT moved THEN lease_id
                        WHEN target_state = 'active' THEN batchyard_lease_id(id)
                        WHEN target_state = 'available' THEN NULL ELSE lease_id END,
        claimed_at = CASE WHEN NOT moved THEN claimed_at WHEN target_state = 'active' THEN now()
                          WHEN target_state = 'available' THEN NULL ELSE claimed_at END,
        lease_expires_at = CASE WHEN NOT moved THEN lease_expires_at END,
        lease_seconds = CASE WHEN NOT moved THEN lease_seconds END,
        run_at = CASE WHEN NOT moved THEN run_at
                      WHEN target_state = 'active' THEN '9999-12-31T23:59:59Z'::timestamptz
                      WHEN target_state = 'available' THEN created_at
                      ELSE now() END,
        finished_at = CASE WHEN NOT moved THEN finished_at
                           WHEN target_state IN ('completed', 'dead', 'cancelled') THEN now() END,
        updated_at = now()
     WHERE id = OLD.id;
    IF moved AND target_state = 'available' THEN
        PERFORM pg_notify('batchyard_jobs', 'exchange');
    END IF;
    SELECT * INTO NEW FROM public.entry WHERE id = OLD.id;
    RETURN NEW;
END $$;

-- DELETE FROM entry (the original's test suites clear their tables so): the job goes, and its
-- batch's counts with it, in the lock order of every count change (the batch row first). A
-- batch whose last unfinished entry is deleted is completed, as if that entry had finished.
CREATE FUNCTION public.batchyard_exchange_entry_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone_state text;
    unfinished integer;
BEGIN
    PERFORM 1 FROM batches WHERE id = OLD.batch FOR UPDATE;
    DELETE FROM jobs WHERE id = OLD.id AND queue = 'exchange' RETURNING state INTO gone_state;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted meanwhile (with its batch, say): not counted as deleted here
    END IF;
    UPDATE batches AS b SET
        total = b.total - 1,
        available = b.available - (gone_state = 'available')::int,
        active = b.active - (gone_state = 'active')::int,
        completed = b.completed - (gone_state = 'completed')::int,
        dead = b.dead - (gone_state = 'dead')::int,
        cancelled = b.cancelled - (gone_state = 'cancelled')::int
     WHERE b.id = OLD.batch
    RETURNING b.available + b.active INTO unfinished;
    UPDATE batches SET
        state = CASE WHEN unfinished > 0 THEN 'pending' ELSE 'completed' END,
        completed_at = CASE WHEN unfinished > 0 THEN NULL ELSE coalesce(completed_at, now()) END
     WHERE id = OLD.batch;
    RETURN OLD;
END $$;

CREATE TRIGGER entry_delete INSTEAD OF DELETE ON public.entry
    FOR EACH ROW EXECUTE FUNCTION public.batchyard_exchange_entry_delete();

CREATE TRIGGER batch_insert INSTEAD OF INSERT ON public.batch
    FOR EACH ROW EXECUTE FUNCTION public.batchyard_exchange_batch_insert();

CREATE TRIGGER batch_delete INSTEAD OF DELETE ON public.batch
    FOR EACH ROW EXECUTE FUNCTION public.batchyard_exchange_batch_delete();

CREATE TRIGGER entry_insert INSTEAD OF INSERT ON public.entry
    FOR EACH ROW EXECUTE FUNCTION public.batchyard_exchange_entry_insert();

CREATE TRIGGER entry_update INSTEAD OF UPDATE ON public.entry
    FOR EACH ROW EXECUTE FUNCTION public.batchyard_exchange_entry_update();

-- claim_pending_entries(n): the engine's claim (lease_jobs) of up to n entries of any batch,
-- for owner 'sql' without expiry, in claim order: priority desc, run_at, id (run_at is the
-- creation time unless a reset or a PENDING move gave it back, so this is the original's
-- priority desc, id order, and SKIP LOCKED keeps concurrent claimers, HTTP ones included, off
-- each other's rows). Two statements: the view read in the statement that leases would see
-- the rows as they were before it.
CREATE FUNCTION public.claim_pending_entries(max_entries integer)
RETURNS SETOF public.entry LANGUAGE plpgsql AS $$
DECLARE
    claimed bigint[];
BEGIN
    WITH picked AS MATERIALIZED (
        SELECT j.id, j.run_at, j.priority FROM jobs AS j
         WHERE j.queue = 'exchange' AND j.ref IS NULL AND j.run_at <= now()
           AND (j.state = 'available' OR (j.state = 'active' AND j.lease_expires_at IS NOT NULL))
           AND (j.state = 'available' OR j.max_attempts IS NULL OR j.attempts < j.max_attempts)
         ORDER BY j.priority DESC, j.run_at, j.id
         LIMIT greatest(coalesce(max_entries, 0), 0)
           FOR UPDATE SKIP LOCKED
    ), leased AS (
        UPDATE jobs SET
            state = 'active',
            attempts = attempts + 1,
            lease_owner = 'sql',
            lease_token = lease_token + 1,
            lease_id = batchyard_lease_id(id),
            claimed_at = now(),
            lease_expires_at = NULL,
            lease_seconds = NULL,
            run_at = '9999-12-31T23:59:59Z'::timestamptz,
            updated_at = now()
         WHERE id = ANY (ARRAY(SELECT p.id FROM picked AS p))
        RETURNING id
    )
    SELECT array_agg(p.id ORDER BY p.priority DESC, p.run_at, p.id) INTO claimed
      FROM picked AS p WHERE p.id IN (SELECT l.id FROM leased AS l);
    RETURN QUERY
        SELECT e.* FROM unnest(claimed) WITH ORDINALITY AS c (id, n)
          JOIN public.entry AS e ON e.id = c.id
         ORDER BY c.n;
END $$;

-- get_completed_batch(): the engine's take_batch for owner 'sql' with a 300 s lease. The
-- original only locked the batch for the caller's transaction; the lease keeps a second
-- producer off it until the first acknowledges it (DELETE FROM batch) or the lease runs out,
-- after which it is handed out again.
CREATE FUNCTION public.get_completed_batch() RETURNS SETOF public.batch
LANGUAGE plpgsql AS $$
DECLARE
    taken bigint;
BEGIN
    UPDATE batches SET lease_owner = 'sql', lease_expires_at = now() + interval '300 seconds'
     WHERE id = (SELECT b.id FROM batches AS b
                  WHERE b.queue = 'exchange' AND b.state = 'completed'
                    AND (b.lease_expires_at IS NULL OR b.lease_expires_at <= now())
                  ORDER BY b.id LIMIT 1
                    FOR UPDATE SKIP LOCKED)
    RETURNING id INTO taken;
    RETURN QUERY SELECT * FROM public.batch AS v WHERE v.id = taken;
END $$;

CREATE FUNCTION public.get_batch_entries(batch_id integer) RETURNS SETOF public.entry
LANGUAGE sql STABLE AS $$
    SELECT * FROM public.entry AS e WHERE e.batch = get_batch_entries.batch_id ORDER BY e.id
$$;

-- reset_claimed_entries(): the engine's release_all for the exchange queue (every consumer's
-- claims): back to PENDING at their place in claim order, the attempt not counted; how many.
CREATE FUNCTION public.reset_claimed_entries() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE jobs SET
        state = 'available',
        attempts = greatest(attempts - 1, 0),
        run_at = created_at,
        lease_owner = NULL,
        lease_id = NULL,
        claimed_at = NULL,
        lease_expires_at = NULL,
        updated_at = now()
     WHERE queue = 'exchange' AND state = 'active';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('batchyard_jobs', 'exchange');
    END IF;
    RETURN n;
END $$;
