"""The deployment files at the root of the checkout, read as the tools that use them would."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
HAPROXY = ROOT / "deploy" / "haproxy.cfg"
UNIT = ROOT / "deploy" / "batchyard.service"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the image's last stage (from its ``FROM`` on)."""
    instructions = dockerfile_instructions()
    start = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[start:]


def image_env() -> dict[str, str]:
    """The ``ENV`` defaults of the image (``ENV A=1 B=2`` form)."""
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def healthcheck_command() -> list[str]:
    """The ``HEALTHCHECK``'s command, in exec form."""
    [rest] = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    command: list[str] = json.loads(rest[rest.index("CMD") + 3 :])
    return command


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def haproxy_servers() -> list[str]:
    """``name address`` of every ``server`` line of the load balancer's configuration."""
    return [
        " ".join(line.split()[1:3])
        for line in HAPROXY.read_text().splitlines()
        if line.split()[:1] == ["server"]
    ]


def unit_settings() -> dict[str, list[str]]:
    """``Key=value`` lines of the systemd unit, every value of each key."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found
