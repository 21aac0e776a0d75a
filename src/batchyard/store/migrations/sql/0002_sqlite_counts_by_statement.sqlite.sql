-- Jobs per queue and state are now kept by the SQLite store itself, once per statement (one
-- upsert per queue and state a statement changed), instead of by row triggers that ran two
-- statements for every job claimed or completed (measured: ~2 µs of the ~13 µs SQL per job).
-- The counts carried over are exact: the triggers kept them until this migration.
DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_update;
DROP TRIGGER jobs_count_delete;
