"""Long work on the event loop, done in slices so that other requests get in between.

A 100,000-job enqueue is decoded, checked, written and answered in slices of :data:`SLICE`
items, each followed by one turn of the event loop: no other request waits for the whole of it
(issue 8: no other request waits more than 100 ms).

While such a request's objects are alive, automatic cyclic garbage collection is paused
(:func:`collection_paused`): a full collection walks every live object holding the GIL, and
with 100,000 jobs' objects alive one took 100-190 ms, stalling every other request. Reference
counting still frees everything the request drops; collection resumes when it is answered.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
R = TypeVar("R")
_encode_into = msgspec.json.Encoder().encode_into
SLICE = 1000  # items per slice: a few milliseconds of work on the loop for one job each


async def in_slices(items: Sequence[T], size: int = SLICE) -> AsyncIterator[Sequence[T]]:
    """``items`` in slices of ``size``, letting the event loop run other work between two."""
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + size]


async def map_in_slices(fn: Callable[[T], R], items: Sequence[T], size: int = SLICE) -> list[R]:
    """``[fn(item) for item in items]``, a slice at a time (see :func:`in_slices`)."""
    mapped: list[R] = []
    async for part in in_slices(items, size):
        mapped.extend(map(fn, part))
    return mapped


async def encode_in_slices(items: Sequence[Any], prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """``items`` as a JSON array, as msgspec encodes it, a slice at a time, into one buffer
    (``prefix`` and ``suffix`` around it)."""
    buffer = bytearray(prefix)
    start = len(buffer)
    _encode_into([], buffer, start)  # "[]": what no items leave
    async for part in in_slices(items):
        at = len(buffer) - 1 if len(buffer) > start + 2 else start
        _encode_into(part, buffer, at)  # over the "]" so far
        if at > start:
            buffer[at] = ord(",")  # and the slice's "[" joins it to the items before
    buffer += suffix
    return bytes(buffer)


def _load_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``: the heap's free pages back to the system (elsewhere: nothing)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]

    def run() -> None:
        trim(0)

    return run


# Run when a big request ends (the last collection_paused block): what its objects took stays
# in glibc's heap, free but counted in the RSS, until trimmed (7 MB of RSS less after
# 1,000,000 jobs enqueued, benchmarks/rss.py); a millisecond or so, once per big request
_trim = _load_trim()


class _Pauses:
    blocks = 0  # collection_paused() blocks running, across tasks
    resume = False  # whether collection was enabled when the first of them began


@contextmanager
def collection_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection until every such block has ended."""
    if _Pauses.blocks == 0:
        _Pauses.resume = gc.isenabled()
        gc.disable()
    _Pauses.blocks += 1
    try:
        yield
    finally:
        _Pauses.blocks -= 1
        if _Pauses.blocks == 0:
            if _Pauses.resume:
                gc.enable()
            _trim()


async def release_in_slices(*lists: list[Any]) -> None:
    """Empty ``lists`` a slice at a time: freeing 100,000 jobs' objects at once (when the last
    reference to a big list goes) holds the loop for tens of milliseconds."""
    for items in lists:
        while items:
            del items[-SLICE:]
            await asyncio.sleep(0)
