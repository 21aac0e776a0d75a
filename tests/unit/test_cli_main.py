"""The root command: a face's own commands load that face only; the rest, the whole tree."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from batchyard.cli.main import app_for, build
from batchyard.faces.registry import FACES, Face


def names(app: typer.Typer) -> set[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return set(group.commands)


@pytest.mark.parametrize("face", [f for f in FACES if f.commands], ids=lambda f: f.name)
def test_a_face_lists_exactly_the_commands_it_adds(face: Face) -> None:
    assert names(build([face], core=False)) == set(face.commands)
    assert set(face.commands) <= names(build())
    assert names(app_for([face.commands[0], "--help"])) == set(face.commands)


def test_other_command_lines_get_the_whole_tree() -> None:
    whole = names(build())
    assert {"serve", "db", "work", "version", "enqueue"} <= whole
    for args in ([], ["--help"], ["serve"], ["version"], ["enqueue"]):
        assert names(app_for(args)) == whole


def test_deveui_register_loads_neither_the_server_nor_the_database() -> None:
    probe = (
        "import sys\n"
        "from batchyard.cli.main import app_for\n"
        "app_for(['deveui', 'register'])\n"
        "print(sorted(m for m in ('batchyard.cli.serve', 'batchyard.service.engine', "
        "'batchyard.store.sqlite', 'litestar', 'asyncpg', 'sqlalchemy') if m in sys.modules))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"
