"""Face 4: the batch exchange (seeds/003 "DBC batch-exchange"), under ``/api/v1/exchange``."""
