"""All configuration in one typed object, read from ``BATCHYARD_*`` environment variables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from batchyard.domain.errors import InvalidInput
from batchyard.domain.idempotency import DEFAULT_TTL_SECONDS, check_ttl
from batchyard.domain.models import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RETAIN_COMPLETED_SECONDS,
    DEFAULT_RETAIN_DEAD_SECONDS,
    QueueDefaults,
)
from batchyard.domain.validation import MAX_LEASE_SECONDS, RETENTIONS, check_retention
from batchyard.store.url import DEFAULT_DATABASE_URL

ENV_PREFIX = "BATCHYARD_"
MAX_WORKERS = 256  # server processes of one `batchyard serve`
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CHOICES = {  # settings that take one of a few words (any case)
    "log_level": ("debug", "info", "warning", "error", "critical"),
    "log_format": ("text", "json"),
}


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    secret: str | None = None
    public_reads: bool = True
    insecure: bool = False  # allow a non-loopback bind without a secret
    migrate_on_start: bool = True
    pool_size: int = 10
    workers: int = 1  # server processes on one port (serve --workers; PostgreSQL only for > 1)
    max_body_bytes: int = 10 * 1024 * 1024
    max_wait_seconds: float = 30.0  # longest long-poll a claim may ask for
    sweep_interval: float = 5.0  # seconds between housekeeping sweeps
    idempotency_ttl_seconds: float = DEFAULT_TTL_SECONDS  # how long Idempotency-Key answers last
    # native queues: the lease of a queue created without lease_seconds (its claims' lease
    # unless the claim says otherwise)
    default_lease_seconds: float = DEFAULT_LEASE_SECONDS
    # native queues: how long a queue created without its own retention keeps its finished
    # jobs (completed; dead and cancelled) before housekeeping deletes them; "none": for ever
    retain_completed_seconds: float | None = DEFAULT_RETAIN_COMPLETED_SECONDS
    retain_dead_seconds: float | None = DEFAULT_RETAIN_DEAD_SECONDS
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    # source job queues (faces/boss): the lease of a claim when its source sets none
    boss_lease_seconds: float = 600.0
    # runs and jobs (faces/runs): the lease of a worker's claim when it asks for none, and the
    # hosts whose source files a run's jobs may name (comma separated; host or host:port)
    runs_lease_seconds: float = 300.0
    runs_source_hosts: str = "raw.githubusercontent.com,github.com"
    # DevEUI batches (faces/deveui): the LoRaWAN provider (None: the batch routes answer 503),
    # registrations in flight at once for the whole deployment (at most 10), the lease of a
    # registrar's slot (renewed before each request), one request's timeout, and how long a
    # slot retries an unknown outcome before its batch fails
    lorawan_url: str | None = None
    lorawan_concurrency: int = 10
    lorawan_lease_seconds: float = 30.0
    lorawan_timeout_seconds: float = 10.0
    lorawan_retry_seconds: float = 60.0

    def __post_init__(self) -> None:
        check_ttl(self.idempotency_ttl_seconds, ENV_PREFIX + "IDEMPOTENCY_TTL_SECONDS")
        leases = ("default_lease_seconds", "boss_lease_seconds", "runs_lease_seconds")
        for name in (*leases, "lorawan_lease_seconds"):
            _check_lease(name, getattr(self, name))
        _check_lorawan(self)
        for name in RETENTIONS:
            try:
                check_retention(getattr(self, name), name)
            except InvalidInput as exc:
                raise InvalidInput(f"{exc} ({ENV_PREFIX}{name.upper()})", field=name) from exc
        if not 1 <= self.workers <= MAX_WORKERS:
            raise InvalidInput(
                f"invalid workers {self.workers} ({ENV_PREFIX}WORKERS): "
                f"expected 1 to {MAX_WORKERS}",
                field="workers",
            )
        for name, allowed in CHOICES.items():
            value = str(getattr(self, name)).strip().lower()
            if value not in allowed:
                raise InvalidInput(
                    f"invalid {name} {getattr(self, name)!r} ({ENV_PREFIX}{name.upper()}): "
                    f"expected one of {', '.join(allowed)}",
                    field=name,
                )
            object.__setattr__(self, name, value)  # frozen: normalised once, here

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``BATCHYARD_*`` variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _coerce(field.name, str(field.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    @property
    def queue_defaults(self) -> QueueDefaults:
        """What a native queue created without its own settings takes."""
        return QueueDefaults(
            lease_seconds=self.default_lease_seconds,
            retain_completed_seconds=self.retain_completed_seconds,
            retain_dead_seconds=self.retain_dead_seconds,
        )

    @property
    def binds_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def _check_lease(name: str, lease: float) -> None:
    if not (math.isfinite(lease) and 0 < lease <= MAX_LEASE_SECONDS):
        raise InvalidInput(
            f"invalid {name} {lease!r} ({ENV_PREFIX}{name.upper()}): "
            f"expected seconds, more than 0 and at most {MAX_LEASE_SECONDS}",
            field=name,
        )


MAX_LORAWAN_CONCURRENCY = 10  # the provider's rule (seeds/004): never more requests in flight


def _check_lorawan(settings: Settings) -> None:
    if not 1 <= settings.lorawan_concurrency <= MAX_LORAWAN_CONCURRENCY:
        raise InvalidInput(
            f"invalid lorawan_concurrency {settings.lorawan_concurrency} "
            f"({ENV_PREFIX}LORAWAN_CONCURRENCY): expected 1 to {MAX_LORAWAN_CONCURRENCY}",
            field="lorawan_concurrency",
        )
    for name in ("lorawan_timeout_seconds", "lorawan_retry_seconds"):
        seconds = getattr(settings, name)
        if not (math.isfinite(seconds) and 0 < seconds <= 3600):
            raise InvalidInput(
                f"invalid {name} {seconds!r} ({ENV_PREFIX}{name.upper()}): "
                "expected seconds, more than 0 and at most 3600",
                field=name,
            )
    if settings.lorawan_lease_seconds < 2 * settings.lorawan_timeout_seconds:
        raise InvalidInput(
            f"{ENV_PREFIX}LORAWAN_LEASE_SECONDS must be at least twice "
            f"{ENV_PREFIX}LORAWAN_TIMEOUT_SECONDS (a slot's lease outlives its requests)",
            field="lorawan_lease_seconds",
        )


def _coerce(name: str, type_name: str, raw: str) -> Any:
    if type_name.endswith("| None") and raw.strip().lower() in ("none", "null"):
        return None  # a setting that may be none: "none" (an empty value is the default)
    try:
        if type_name.startswith("bool"):
            return _parse_bool(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
    except ValueError as exc:
        raise InvalidInput(f"{ENV_PREFIX}{name.upper()}={raw!r}: {exc}", field=name) from exc
    return raw


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")
