"""The face seam: one package per face, one registry, and an engine core that knows no face."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

import batchyard
from batchyard.client import AsyncClient, BaseClient, Client
from batchyard.faces.registry import FACES, Face

SRC = Path(batchyard.__file__).parent
CORE = ("domain", "store", "service")
# the faces' queue kinds (but the engine's own), and words of their vocabularies: the core
# must contain none of them ("face" itself is the engine's word for any of them)
VOCABULARY = (
    *("key[ -]space", "batch_key", "process_name", "seeds/", "boss", "deveui", "exchange"),
    *("openaddresses", "source_name", "loglink", "github"),
)
ENGLISH_KINDS = frozenset({"native", "runs"})  # kinds that are plain words: their vocabulary
FACE_WORDS = re.compile(
    "|".join([*(f.queue_kind for f in FACES if f.queue_kind not in ENGLISH_KINDS), *VOCABULARY]),
    re.IGNORECASE,
)
# A face's own schema: the batch exchange's SQL interface (views and stored functions over the
# engine's tables, PostgreSQL only) is a migration, because one revision chain orders every
# schema change; these files belong to the face, not to the core.
FACE_MIGRATIONS = frozenset(
    {
        "store/migrations/versions/0009_exchange_sql.py",
        "store/migrations/sql/0009_exchange_sql.postgres.sql",
        "store/migrations/sql/0009_exchange_sql.sqlite.sql",
    }
)
# their revision id, which the next migration names as the one it follows
FACE_REVISIONS = frozenset(path.rsplit("/", 1)[-1].split(".")[0] for path in FACE_MIGRATIONS)


def _without_revisions(line: str) -> str:
    for revision in FACE_REVISIONS:
        line = line.replace(revision, "")
    return line


def test_the_engine_core_names_no_face() -> None:
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for part in CORE
        for path in sorted((SRC / part).rglob("*"))
        if path.suffix in (".py", ".sql")
        and path.relative_to(SRC).as_posix() not in FACE_MIGRATIONS
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if FACE_WORDS.search(_without_revisions(line))
    ]
    assert found == []


def test_the_core_imports_no_face() -> None:
    for part in CORE:
        for path in (SRC / part).rglob("*.py"):
            assert "batchyard.faces" not in path.read_text(), path


@pytest.mark.parametrize("face", FACES, ids=lambda face: face.name)
def test_every_face_has_its_parts(face: Face) -> None:
    package = SRC / "faces" / face.name
    assert package.is_dir()
    assert face.routes(), "a face serves at least one route"
    assert callable(face.part("cli").register)
    assert face.client_namespace() is None or face.name != "native"
    for task in face.background():
        assert callable(task)


def test_face_names_and_queue_kinds_are_unique() -> None:
    assert len({face.name for face in FACES}) == len(FACES)
    assert len({face.queue_kind for face in FACES}) == len(FACES)


def test_every_client_namespace_is_declared_and_attached() -> None:
    hints = typing.get_type_hints(BaseClient)
    for face in FACES:
        namespace = face.client_namespace()
        if namespace is None:
            continue
        assert typing.get_origin(hints[face.name]) is namespace, face.name
        with Client("http://127.0.0.1:1") as client:
            assert isinstance(getattr(client, face.name), namespace)
        assert isinstance(getattr(AsyncClient("http://127.0.0.1:1"), face.name), namespace)


def test_the_keys_face_owns_the_keyspace_kind() -> None:
    from batchyard.faces.keys import model

    (keys,) = [face for face in FACES if face.name == "keys"]
    assert keys.queue_kind == model.QUEUE_KIND
