"""Prometheus metrics: one registry per process, defined here once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS_ENQUEUED = Counter(
    "batchyard_jobs_enqueued", "Jobs created by enqueue", ["queue"], registry=REGISTRY
)
JOBS_CLAIMED = Counter(
    "batchyard_jobs_claimed", "Jobs handed out under a lease", ["queue"], registry=REGISTRY
)
JOBS_FINISHED = Counter(
    "batchyard_jobs_finished",
    "Attempts that ended, by outcome (completed, retried, dead)",
    ["queue", "outcome"],
    registry=REGISTRY,
)
QUEUE_JOBS = Gauge(
    "batchyard_queue_jobs", "Jobs per queue and state", ["queue", "state"], registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "batchyard_http_requests",
    "HTTP requests by method and status",
    ["method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "batchyard_http_request_seconds",
    "HTTP request duration",
    ["method"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Every metric labelled by queue. Their children exist only for queues known to exist: they
# are created after the engine found the queue (or counted its jobs) and removed when it is
# deleted, so names sent for queues that do not exist never become series.
PER_QUEUE: tuple[Counter | Gauge, ...] = (JOBS_ENQUEUED, JOBS_CLAIMED, JOBS_FINISHED, QUEUE_JOBS)


def forget_queue(name: str) -> None:
    """Remove every series of queue ``name`` (it was deleted)."""
    for metric in PER_QUEUE:
        metric.remove_by_labels({"queue": name})


def queues_with_series() -> set[str]:
    """The queues some per-queue metric has a series for."""
    return {
        sample.labels["queue"]
        for metric in PER_QUEUE
        for family in metric.collect()
        for sample in family.samples
    }


def keep_only_queues(names: set[str]) -> None:
    """Remove the series of every queue not in ``names`` (deleted, possibly by another
    server process sharing the database)."""
    for name in queues_with_series() - names:
        forget_queue(name)


def _total(metric: Counter) -> float:
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def claimed_and_finished() -> tuple[float, float]:
    """Jobs claimed and attempts finished so far by this process, over every queue."""
    return _total(JOBS_CLAIMED), _total(JOBS_FINISHED)
