-- Finished batches handed to one taker at a time under a lease (Engine.take_batch): who took
-- it, until when (epoch seconds, like every time here). The take walks the finished batches of
-- a queue oldest first.
ALTER TABLE batches ADD COLUMN lease_owner TEXT;
ALTER TABLE batches ADD COLUMN lease_expires_at REAL;
CREATE INDEX batches_finished ON batches (queue, id) WHERE state = 'completed';

-- A big batch is written a slice per transaction, like a big enqueue (migration 0005), so that
-- other requests' writes get in between: `filling` counts its jobs not written yet and keeps it
-- pending until they are (without it, a first slice of finished jobs, or one drained before the
-- next is written, would complete it early). The record of such a write says it fills a batch.
ALTER TABLE batches ADD COLUMN filling INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bulk_enqueues ADD COLUMN fills_batch INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER jobs_batch_update;
CREATE TRIGGER jobs_batch_update AFTER UPDATE OF state ON jobs
WHEN NEW.batch_id IS NOT NULL AND OLD.state <> NEW.state
BEGIN
    UPDATE batches SET
        available = available + (NEW.state = 'available') - (OLD.state = 'available'),
        active = active + (NEW.state = 'active') - (OLD.state = 'active'),
        completed = completed + (NEW.state = 'completed') - (OLD.state = 'completed'),
        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
        cancelled = cancelled + (NEW.state = 'cancelled') - (OLD.state = 'cancelled')
    WHERE id = NEW.batch_id;
    UPDATE batches SET
        state = CASE WHEN available + active + filling = 0 THEN 'completed' ELSE 'pending' END,
        completed_at = CASE
            WHEN available + active + filling > 0 THEN NULL
            WHEN completed_at IS NULL THEN NEW.updated_at
            ELSE completed_at END
    WHERE id = NEW.batch_id;
END;
