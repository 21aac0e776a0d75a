"""Every error batchyard raises on purpose derives from :class:`BatchyardError`.

::

    BatchyardError
    ├── InvalidInput        the request cannot be carried out as given (HTTP 422)
    ├── NotFound            no such queue, job, batch, process or lease (HTTP 404)
    ├── Conflict            the request clashes with the current state (HTTP 409)
    │   ├── AlreadyExists   a name or id that must be unique is taken
    │   ├── StaleLease      the lease token is not the current one (fencing)
    │   └── NothingToClaim  every item is held; ``retry_after`` says when to retry
    └── StoreUnavailable    the database does not answer (HTTP 503)
"""

from __future__ import annotations


class BatchyardError(Exception):
    """Root of every batchyard error."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(BatchyardError):
    title = "Invalid input"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class NotFound(BatchyardError):
    title = "Not found"


class Conflict(BatchyardError):
    title = "Conflict"


class AlreadyExists(Conflict):
    title = "Already exists"


class StaleLease(Conflict):
    title = "Stale lease"


class NothingToClaim(Conflict):
    title = "Nothing to claim"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StoreUnavailable(BatchyardError):
    title = "Database unavailable"
