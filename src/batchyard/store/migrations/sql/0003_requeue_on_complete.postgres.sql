-- The queue flag that makes a completion hand the job back is named for what it does.
ALTER TABLE queues RENAME COLUMN cyclic TO requeue_on_complete;
