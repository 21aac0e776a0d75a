"""The SQLite database as a file: can the server write it, and an online copy of it.

:func:`check_writable` runs before ``batchyard serve`` starts, so a database it could not write
(a read-only file, directory or mount) is one clear line instead of a traceback from the
server's start-up. :func:`backup` is ``batchyard db backup``: SQLite's online backup API copies
the database page by page inside one read transaction, so the copy is consistent while the
server goes on writing (in WAL mode a reader never blocks the writer).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

from batchyard.domain.errors import BatchyardError

NEEDS = "batchyard needs to write the file and its directory, for the -wal and -shm files"


def check_writable(path: str) -> None:
    """Raise :class:`BatchyardError` unless the server could write the database at ``path``.

    An existing file is opened for writing, switched to WAL (as the store does) and locked for
    writing once; a missing one needs a directory where files can be created. Nothing is
    changed but the journal mode, which the server sets anyway.
    """
    if path == ":memory:":
        return
    file = Path(path).absolute()
    if file.exists():
        _try_write(file)
    else:
        _try_create_in(file.parent)


def _try_write(file: Path) -> None:
    try:
        conn = sqlite3.connect(f"{file.as_uri()}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BatchyardError(f"cannot open the SQLite database {file} for writing: {exc}") from exc
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise BatchyardError(
                f"cannot write the SQLite database {file}: it stays in journal mode {mode!r} "
                f"instead of WAL ({NEEDS})"
            )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        hint = f" ({NEEDS})" if _is_access(exc) else ""
        raise BatchyardError(f"cannot write the SQLite database {file}: {exc}{hint}") from exc
    finally:
        conn.close()


def _is_access(exc: sqlite3.Error) -> bool:
    """Whether SQLite could not write because of the file system (not, say, a broken file)."""
    return any(words in str(exc) for words in ("readonly", "unable to open", "disk I/O"))


def _try_create_in(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise BatchyardError(
            f"cannot create the SQLite database in {directory}: {exc.strerror or exc} ({NEEDS})"
        ) from exc


def backup(source: str, target: str, *, force: bool = False) -> int:
    """Copy the database at ``source`` to ``target`` while it may be in use; the copy's size.

    The copy is written beside ``target`` under a temporary name and moved into place when it
    is complete, so ``target`` is never half written. An existing ``target`` is refused
    (:class:`FileExistsError`) unless ``force``. The copy is a single file (rollback journal,
    no ``-wal``), readable by the owner only.
    """
    source_file, target_file = Path(source).absolute(), Path(target).absolute()
    if not source_file.is_file():
        raise BatchyardError(f"there is no SQLite database at {source_file}")
    if target_file.exists() and target_file.resolve() == source_file.resolve():
        raise BatchyardError(f"{target_file} is the database itself: back it up somewhere else")
    if target_file.exists() and not force:
        raise FileExistsError(f"{target_file} exists (--force replaces it)")
    fd, temporary = tempfile.mkstemp(
        dir=target_file.parent, prefix=f".{target_file.name}.", suffix=".tmp"
    )
    os.close(fd)
    try:
        _copy(source_file, Path(temporary))
        if force:
            os.replace(temporary, target_file)
        else:
            os.link(temporary, target_file)  # never replaces a file that appeared meanwhile
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return target_file.stat().st_size


def _copy(source: Path, target: Path) -> None:
    try:
        src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BatchyardError(f"cannot open the SQLite database {source}: {exc}") from exc
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.backup(dst)  # every page in one step: one read transaction, one snapshot
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BatchyardError(f"cannot back up {source}: {exc}") from exc
    finally:
        src.close()
