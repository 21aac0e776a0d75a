"""Source job queues (seeds/002 "Boss"): converters claim a source's jobs, HEAD them while
they work and report them done; administrators submit and stop jobs."""
