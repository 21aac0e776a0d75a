-- Finished batches handed to one taker at a time under a lease (Engine.take_batch): who took
-- it, until when. The take walks the finished batches of a queue oldest first.
ALTER TABLE batches ADD COLUMN lease_owner text;
ALTER TABLE batches ADD COLUMN lease_expires_at timestamptz;
CREATE INDEX batches_finished ON batches (queue, id) WHERE state = 'completed';
