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

Each class has a stable ``code``: the HTTP layer answers it as the problem document's ``type``
(``urn:batchyard:problem:<code>``) and the client maps a problem back to its class by it. A
face may add a subclass with a code of its own.
"""

from __future__ import annotations

PROBLEM_TYPE_PREFIX = "urn:batchyard:problem:"  # + code: the ``type`` of a problem document


class BatchyardError(Exception):
    """Root of every batchyard error."""

    title = "Error"
    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(BatchyardError):
    title = "Invalid input"
    code = "invalid-input"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class NotFound(BatchyardError):
    title = "Not found"
    code = "not-found"


class Conflict(BatchyardError):
    title = "Conflict"
    code = "conflict"


class AlreadyExists(Conflict):
    title = "Already exists"
    code = "already-exists"

    def __init__(self, detail: str, taken: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.taken = taken  # the unique values that were taken, when known


class StaleLease(Conflict):
    title = "Stale lease"
    code = "stale-lease"


class AlreadyFinished(Conflict):
    """A change that only an unfinished job takes (JobEdit.unfinished_only)."""

    title = "Already finished"
    code = "already-finished"


class NothingToClaim(Conflict):
    title = "Nothing to claim"
    code = "nothing-to-claim"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


UNAVAILABLE_DETAIL = "the database is unavailable; retry later"
FAULT_DETAIL = "the database could not carry out the request; the fault has been logged"


class StoreUnavailable(BatchyardError):
    """The database cannot serve the request.

    ``detail`` is what a client is told: never a driver's message, a path or a database name.
    ``internal`` (``str()`` of the error, so logs and tracebacks show it) says what happened.
    """

    title = "Database unavailable"
    code = "store-unavailable"

    def __init__(self, detail: str = UNAVAILABLE_DETAIL, *, internal: str | None = None) -> None:
        super().__init__(detail)
        self.internal = internal or detail

    def __str__(self) -> str:
        return self.internal


def error_classes() -> dict[str, type[BatchyardError]]:
    """Every error class known now (subclasses defined outside the core included), by code."""
    found: dict[str, type[BatchyardError]] = {}
    pending: list[type[BatchyardError]] = [BatchyardError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found
