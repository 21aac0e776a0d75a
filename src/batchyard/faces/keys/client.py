"""Key-space leases from Python: ``client.keys.acquire(...)`` and the rest of the face."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from batchyard.client._ops import Call, Namespace, R, operation, parse_as
from batchyard.client._transport import ApiRequest
from batchyard.faces.keys.model import DEFAULT_KEY_SET_SIZE, BatchKey, Process

PROCESS = "/api/v1/process"

_process = parse_as(Process)
_key = parse_as(BatchKey)


def _path(*parts: str) -> str:
    return f"{PROCESS}/" + "/".join(quote(part, safe="") for part in parts)


def list_processes_call(api: Any) -> Call[list[Process]]:
    return Call(ApiRequest("GET", PROCESS), parse_as(list[Process]))


def create_process_call(
    api: Any,
    name: str,
    key_set_size: int = DEFAULT_KEY_SET_SIZE,
    lease_seconds: float | None = None,
) -> Call[Process]:
    body: dict[str, Any] = {"process_name": name, "key_set_size": key_set_size}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    return Call(ApiRequest("POST", PROCESS, body), _process)


def delete_process_call(api: Any, name: str, force: bool = False) -> Call[Process]:
    params = {"force": "true" if force else "false"}
    return Call(ApiRequest("DELETE", _path(name), params=params), _process)


def list_keys_call(api: Any, process_name: str) -> Call[list[BatchKey]]:
    """Every key of the process, held or free, in key order."""
    return Call(ApiRequest("GET", _path("batch_keys", process_name)), parse_as(list[BatchKey]))


def acquire_call(
    api: Any, process_name: str, machine: str, lease_seconds: float | None = None
) -> Call[BatchKey]:
    """The key completed longest ago; NothingToClaim (with retry_after) while all are held."""
    body: dict[str, Any] = {"process_name": process_name, "machine": machine}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    return Call(ApiRequest("POST", f"{PROCESS}/batch_keys", body), _key)


def release_call(api: Any, external_id: str) -> Call[BatchKey]:
    """Give the key back: it counts as completed now."""
    return Call(ApiRequest("DELETE", _path("batch_keys", external_id)), _key)


def heartbeat_call(
    api: Any, external_id: str, lease_seconds: float | None = None
) -> Call[BatchKey]:
    """Extend the lease (by ``lease_seconds``, or as long as it was granted)."""
    body = {} if lease_seconds is None else {"lease_seconds": lease_seconds}
    return Call(ApiRequest("POST", _path("batch_keys", external_id, "heartbeat"), body), _key)


class KeysApi(Namespace[R]):
    """Processes of N keys; a machine holds one key k and works on ``id % N = k``."""

    list_processes = operation(list_processes_call)
    create_process = operation(create_process_call)
    delete_process = operation(delete_process_call)
    list_keys = operation(list_keys_call)
    acquire = operation(acquire_call)
    release = operation(release_call)
    heartbeat = operation(heartbeat_call)


NAMESPACE = KeysApi
