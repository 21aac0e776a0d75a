"""Runs and jobs (seeds/001 "OpenAddresses Batch"): a run groups jobs that workers claim,
run (``batchyard work``) and report on; reads are public, writes need the shared secret."""
