"""The SQLite database as a file: the start-up write check and ``db backup``'s copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from batchyard.domain.errors import BatchyardError
from batchyard.store.sqlitefile import backup, check_writable


def _database(path: Path, rows: int = 3) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (n INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(rows)])
    conn.commit()
    conn.close()
    return path


def test_a_writable_database_and_a_new_one_pass(tmp_path: Path) -> None:
    check_writable(str(_database(tmp_path / "a.db")))
    check_writable(str(tmp_path / "new" / "b.db"))  # its directory is made, the file is not
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.db"]
    check_writable(":memory:")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(BatchyardError, match=r"cannot write the SQLite database .*junk\.db: file"):
        check_writable(str(junk))


def test_backup_copies_and_refuses_to_overwrite(tmp_path: Path) -> None:
    source = _database(tmp_path / "live.db", rows=5)
    target = tmp_path / "copy.db"
    size = backup(str(source), str(target))
    assert size == target.stat().st_size > 0
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (5,)
    conn.close()
    assert target.stat().st_mode & 0o077 == 0  # the owner's only
    with pytest.raises(FileExistsError, match="--force"):
        backup(str(source), str(target))
    backup(str(source), str(target), force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db", "live.db"]


def test_backup_refuses_the_database_itself_and_a_missing_one(tmp_path: Path) -> None:
    source = _database(tmp_path / "live.db")
    with pytest.raises(BatchyardError, match="is the database itself"):
        backup(str(source), str(source), force=True)
    with pytest.raises(BatchyardError, match="there is no SQLite database"):
        backup(str(tmp_path / "missing.db"), str(tmp_path / "copy.db"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.db"]
