-- Every claim walks the claim index (jobs_claim) from the head of its queue's order. A claimed
-- job's old entry stays there, dead, until a vacuum removes it: a scan marks dead entries
-- (LP_DEAD) and stops visiting their rows, but still reads every index page they fill, so the
-- claims of a queue that drained 1,000,000 jobs read about 6,000 index pages each (18 ms) until
-- the next vacuum. Only VACUUM empties those pages (new entries go to the far end of the order,
-- so no page split ever clears them), hence, for this table alone:
-- * autovacuum by a fixed count of dead rows, not by a fraction of the table (the default 20 %
--   of a table holding a week of finished jobs lets hundreds of thousands of dead entries pile
--   up at the head of the claim order before a vacuum);
-- * index cleanup always: by default (AUTO) a vacuum that finds dead rows on under 2 % of the
--   table's pages skips the indexes ("index scan bypassed"), which in a queue table is the
--   usual case: the dead rows of the last minute are few pages of a big table, but all of
--   their claim-index entries are at the head that every claim reads;
-- * a higher cost limit, so one vacuum of a big table ends in seconds, not minutes.
-- No fillfactor: a claim (state, run_at) and a completion (state, finished_at) change indexed
-- columns, so neither can be a HOT update whatever the free space.
-- Server-wide autovacuum must be on (these only tune it); see README "Running in production".
ALTER TABLE jobs SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_limit = 2000,
    vacuum_index_cleanup = on
);
