"""Python client for the batchyard HTTP API.

::

    from batchyard.client import Client

    with Client("http://127.0.0.1:8080", secret="...") as client:
        job = client.enqueue("emails", {"to": "a@example.com"})
        for job in client.claim("emails", worker="w1", n=10, wait=5):
            client.complete("emails", job.id, job.lease.token, result="sent")
"""

from __future__ import annotations

from batchyard.client._client import DEFAULT_URL, AsyncClient, BaseClient, Client
from batchyard.client._errors import ClientError, TransportError
from batchyard.client._models import QueueCounts, QueueInfo
from batchyard.domain.errors import (
    AlreadyExists,
    BatchyardError,
    Conflict,
    InvalidInput,
    NotFound,
    NothingToClaim,
    StaleLease,
    StoreUnavailable,
)
from batchyard.domain.models import Batch, BatchCounts, Completion, Job, Lease, NewJob
from batchyard.domain.states import BatchState, JobState
from batchyard.faces.boss.converter import Options as ConverterOptions
from batchyard.faces.boss.model import BossJob, ClaimedJob, SourceInfo
from batchyard.faces.keys.model import BatchKey, Process

__all__ = [
    "DEFAULT_URL",
    "AlreadyExists",
    "AsyncClient",
    "BaseClient",
    "Batch",
    "BatchCounts",
    "BatchKey",
    "BatchState",
    "BatchyardError",
    "BossJob",
    "ClaimedJob",
    "Client",
    "ClientError",
    "Completion",
    "Conflict",
    "ConverterOptions",
    "InvalidInput",
    "Job",
    "JobState",
    "Lease",
    "NewJob",
    "NotFound",
    "NothingToClaim",
    "Process",
    "QueueCounts",
    "QueueInfo",
    "SourceInfo",
    "StaleLease",
    "StoreUnavailable",
    "TransportError",
]
