-- Nothing to do on PostgreSQL: its counts are kept per statement already (see 0001).
SELECT 1;
