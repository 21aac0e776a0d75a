-- Finished batches handed to one taker at a time under a lease (Engine.take_batch): who took
-- it, until when (epoch seconds, like every time here). The take walks the finished batches of
-- a queue oldest first.
ALTER TABLE batches ADD COLUMN lease_owner TEXT;
ALTER TABLE batches ADD COLUMN lease_expires_at REAL;
CREATE INDEX batches_finished ON batches (queue, id) WHERE state = 'completed';
