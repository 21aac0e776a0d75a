-- Nothing to do on PostgreSQL: its counts triggers are statement-level already.
SELECT 1;
