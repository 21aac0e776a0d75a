"""The native queue API: the engine as it is, under /api/v1/queues."""
