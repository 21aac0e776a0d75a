"""Fixtures shared by every test tier: a fresh database per test, on each backend."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from batchyard.store.base import Store
from batchyard.store.factory import open_store
from tests import pg

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    pg.require_postgres()
    name = pg.create_template()
    yield name
    pg.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import asyncio

    from batchyard.store.migrate import upgrade
    from batchyard.store.url import parse_database_url

    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(upgrade(parse_database_url(f"sqlite:///{path}")))
    return path


@contextmanager
def fresh_database(
    request: pytest.FixtureRequest, directory: Path, sqlite_template: Path
) -> Iterator[str]:
    """A freshly migrated, empty database of the backend ``request.param``, dropped after."""
    if request.param == "sqlite":
        path = directory / "batchyard.db"
        path.write_bytes(sqlite_template.read_bytes())
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = pg.clone(template)
    try:
        yield pg.database_url(name)
    finally:
        pg.drop(name)


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A freshly migrated, empty database of each backend, dropped after the test."""
    with fresh_database(request, tmp_path, sqlite_template) as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (made with the openssl command):
    an https provider or simulator of the DevEUI tests."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
