-- Finished batches handed to one taker at a time under a lease (Engine.take_batch): who took
-- it, until when (epoch seconds, like every time here). The take walks the finished batches of
-- a queue oldest first.
ALTER TABLE batches ADD COLUMN lease_owner TEXT;
ALTER TABLE batches ADD COLUMN lease_expires_at REAL;
CREATE INDEX batches_finished ON batches (queue, id) WHERE state = 'completed';

-- A job's move in a batch updates the batch once, not twice: the new state and completion
-- time come from the counts as they were plus this move (every SET expression reads the row
-- as it was), in the same statement as the counts.
DROP TRIGGER jobs_batch_update;
CREATE TRIGGER jobs_batch_update AFTER UPDATE OF state ON jobs
WHEN NEW.batch_id IS NOT NULL AND OLD.state <> NEW.state
BEGIN
    UPDATE batches SET
        available = available + (NEW.state = 'available') - (OLD.state = 'available'),
        active = active + (NEW.state = 'active') - (OLD.state = 'active'),
        completed = completed + (NEW.state = 'completed') - (OLD.state = 'completed'),
        dead = dead + (NEW.state = 'dead') - (OLD.state = 'dead'),
        cancelled = cancelled + (NEW.state = 'cancelled') - (OLD.state = 'cancelled'),
        state = CASE WHEN available + active + (NEW.state IN ('available', 'active'))
                          - (OLD.state IN ('available', 'active')) = 0
                     THEN 'completed' ELSE 'pending' END,
        completed_at = CASE
            WHEN available + active + (NEW.state IN ('available', 'active'))
                 - (OLD.state IN ('available', 'active')) > 0 THEN NULL
            WHEN completed_at IS NULL THEN NEW.updated_at
            ELSE completed_at END
    WHERE id = NEW.batch_id;
END;
