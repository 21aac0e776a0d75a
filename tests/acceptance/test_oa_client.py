"""The original's own client, the npm package ``@openaddresses/lib`` 4.x (the ``oa`` library
and CLI), unchanged, against a real server with a shared secret, on both stores (issue 10).

The package is installed from npm once per test session into a temporary directory. Without
node or npm (or without the npm registry) the tests skip, saying why — except in CI
(``CI=true``), where they fail: there they must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests import pg
from tests.acceptance.server import Server, running_server
from tests.acceptance.source_files import source_files

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(300)]

PACKAGE = "@openaddresses/lib@4"
SECRET = "oa-shared-secret"
SOURCES = "https://raw.githubusercontent.com/openaddresses/openaddresses/master/sources/"

# Runs each step [cmd, subcmd, args] with the library, as a program using it would; prints one
# JSON list: {"ok": answer} or {"error": message} per step.
DRIVER = """\
import OA from '@openaddresses/lib';

const [url, secret, steps] = [process.argv[2], process.argv[3], JSON.parse(process.argv[4])];
const oa = new OA({ url, secret });
const results = [];
for (const [cmd, subcmd, args] of steps) {
    try {
        results.push({ ok: await oa.cmd(cmd, subcmd, args) });
    } catch (err) {
        results.push({ error: err.message });
    }
}
console.log(JSON.stringify(results));
"""


def unavailable(message: str) -> NoReturn:
    if pg.in_ci():
        pytest.fail(f"{message} (CI=true: the @openaddresses/lib test must run)", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class OaInstall:
    node: str
    directory: Path

    @property
    def cli(self) -> Path:
        return self.directory / "node_modules" / "@openaddresses" / "lib" / "cli.js"

    @property
    def driver(self) -> Path:
        return self.directory / "drive.mjs"


@pytest.fixture(scope="session")
def oa(tmp_path_factory: pytest.TempPathFactory) -> OaInstall:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed to install @openaddresses/lib (not on PATH)")
    directory = tmp_path_factory.mktemp("oa-lib")
    try:
        installed = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(directory), PACKAGE],
            capture_output=True,
            text=True,
            timeout=240,
        )
    except subprocess.TimeoutExpired:
        unavailable(f"npm install {PACKAGE} did not finish in 240 s")
    if installed.returncode != 0:
        unavailable(f"npm install {PACKAGE} failed:\n{installed.stdout}\n{installed.stderr}")
    found = OaInstall(node, directory)
    package = json.loads((found.cli.parent / "package.json").read_text())
    assert package["name"] == "@openaddresses/lib" and package["version"].startswith("4.")
    found.driver.write_text(DRIVER)
    return found


def node_env() -> dict[str, str]:
    """This environment without what would change the client (its credentials, UPDATE)."""
    dropped = {"OA_USERNAME", "OA_PASSWORD", "OA_TOKEN", "OA_SECRET", "UPDATE"}
    return {name: value for name, value in os.environ.items() if name not in dropped}


def library(oa: OaInstall, server: Server, *steps: list[Any], secret: str = SECRET) -> list[Any]:
    """The answers of ``oa.cmd(...)`` for each step; an Error thrown is ``{"error": message}``."""
    done = subprocess.run(
        [oa.node, str(oa.driver), server.url, secret, json.dumps(list(steps))],
        capture_output=True,
        text=True,
        timeout=120,
        env=node_env(),
        cwd=oa.directory,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    results: list[Any] = json.loads(done.stdout)
    assert len(results) == len(steps)
    return results


def answer(result: Any) -> Any:
    assert "ok" in result, result
    return result["ok"]


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, f"exit {self.returncode}:\n{self.stdout}\n{self.stderr}"
        return json.loads(self.stdout)


def cli(oa: OaInstall, server: Server, *args: str, secret: str = SECRET) -> CliResult:
    """``oa ARGS --script --url URL --secret SECRET``: the real CLI, no prompts."""
    done = subprocess.run(
        [oa.node, str(oa.cli), *args, "--script", "--url", server.url, "--secret", secret],
        capture_output=True,
        text=True,
        timeout=120,
        env=node_env(),
        cwd=oa.directory,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def files() -> Iterator[str]:
    with source_files() as url:
        yield url


@pytest.fixture
def secret_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = {"BATCHYARD_SECRET": SECRET, "BATCHYARD_RUNS_SOURCE_HOSTS": "127.0.0.1"}
    with running_server(database_url, tmp_path, env=env) as server:
        yield server


def job_spec(name: str, layer: str, job: str) -> dict[str, str]:
    return {"source": f"{SOURCES}{name}.json", "layer": layer, "name": job}


def test_the_oa_library_drives_runs_and_jobs(oa: OaInstall, secret_server: Server) -> None:
    server = secret_server
    [created, other] = library(
        oa, server, ["run", "create", {"live": "false"}], ["run", "create", {"live": "true"}]
    )
    run, live_run = answer(created), answer(other)
    assert (run["live"], run["closed"], run["status"]) == (False, False, "Success")
    assert live_run["live"] is True
    run_id = run["id"]
    jobs = [
        job_spec("us/dc/statewide", "addresses", "city"),
        job_spec("us/ma/boston", "parcels", "town"),
    ]
    [added, got, listed, runs_jobs, count, job_list] = library(
        oa,
        server,
        ["run", "create_jobs", {":run": run_id, "jobs": jobs}],
        ["run", "get", {":run": run_id}],
        ["run", "list", {"live": "all"}],
        ["run", "jobs", {":run": run_id}],
        ["run", "jobs_count", {":run": run_id}],
        ["job", "list", {"run": run_id}],
    )
    added = answer(added)
    assert added["run"] == run_id and added["errors"] == [] and len(added["jobs"]) == 2
    first, second = sorted(added["jobs"])
    got = answer(got)
    assert (got["id"], got["closed"], got["status"]) == (run_id, True, "Pending")
    listed = answer(listed)
    assert [r["id"] for r in listed["runs"]] == [live_run["id"], run_id]
    assert listed["total"] == 2
    runs_jobs = answer(runs_jobs)
    assert [(j["id"], j["source_name"], j["layer"], j["name"]) for j in runs_jobs["jobs"]] == [
        (first, "us/dc/statewide", "addresses", "city"),
        (second, "us/ma/boston", "parcels", "town"),
    ]
    assert answer(count) == {
        "run": run_id,
        "status": {"Pending": 2, "Running": 0, "Success": 0, "Fail": 0, "Warn": 0},
    }
    job_list = answer(job_list)
    assert [j["id"] for j in job_list["jobs"]] == [second, first] and job_list["total"] == 2

    # the original's task reports a job like this: version false, an output object
    output = {"cache": True, "output": True, "preview": True, "validated": False}
    update = {":job": first, "status": "Success", "count": 5, "output": output, "version": False}
    [updated, read, counted, closed, reread, log] = library(
        oa,
        server,
        ["job", "update", update],
        ["job", "get", {":job": first}],
        ["run", "jobs_count", {":run": run_id}],
        ["run", "update", {":run": live_run["id"], "closed": "true", "live": "false"}],
        ["run", "get", {":run": live_run["id"]}],
        ["job", "log", {":job": first}],
    )
    updated = answer(updated)
    assert (updated["status"], updated["count"], updated["output"]) == ("Success", 5, output)
    assert updated["version"] is None  # false: no change
    assert answer(read) == updated
    assert answer(counted)["status"]["Success"] == 1
    assert (answer(closed)["closed"], answer(closed)["live"]) == (True, False)
    assert answer(reread) == answer(closed)
    assert answer(log) == []

    [rerun, missing, no_job, refused] = library(
        oa,
        server,
        ["job", "rerun", {":job": second}],
        ["run", "get", {":run": 999999}],
        ["job", "get", {":job": 999999}],
        ["run", "create_jobs", {":run": run_id, "jobs": jobs}],
    )
    rerun = answer(rerun)
    assert (rerun["closed"], rerun["status"], rerun["live"]) == (True, "Pending", False)
    assert missing == {"error": "404: run not found"}
    assert no_job == {"error": "404: job not found"}
    assert refused["error"].startswith("409: ")
    assert refused["error"] != "409: No .message"

    [wrong] = library(oa, server, ["run", "create", {}], secret="not-the-secret")
    assert wrong["error"].startswith("401: ") and wrong["error"] != "401: No .message"


def test_the_oa_cli_drives_runs_and_jobs(oa: OaInstall, secret_server: Server, files: str) -> None:
    server = secret_server
    run = cli(oa, server, "run", "create", "--live", "false").json()
    assert (run["live"], run["closed"], run["status"]) == (False, False, "Success")
    run_id = str(run["id"])
    statewide = f"{files}/sources/us/dc/statewide.json"
    boston = f"{files}/sources/us/ma/boston.json"
    added = cli(
        oa, server, "run", "create_jobs", "--:run", run_id, "--jobs", statewide, "--jobs", boston
    ).json()
    assert added["run"] == run["id"] and added["errors"] == [] and len(added["jobs"]) == 4

    listed = cli(oa, server, "run", "list", "--live", "all").json()
    assert run["id"] in [r["id"] for r in listed["runs"]]
    got = cli(oa, server, "run", "get", "--:run", run_id).json()
    assert (got["closed"], got["status"]) == (True, "Pending")
    jobs = cli(oa, server, "run", "jobs", "--:run", run_id).json()["jobs"]
    assert sorted((j["source_name"], j["layer"], j["name"]) for j in jobs) == [
        ("us/dc/statewide", "addresses", "city"),
        ("us/dc/statewide", "addresses", "county"),
        ("us/dc/statewide", "parcels", "town"),
        ("us/ma/boston", "buildings", "fire"),
    ]
    count = cli(oa, server, "run", "jobs_count", "--:run", run_id).json()
    assert count["status"] == {"Pending": 4, "Running": 0, "Success": 0, "Fail": 0, "Warn": 0}
    job_list = cli(oa, server, "job", "list", "--run", run_id).json()
    assert job_list["total"] == 4
    assert [j["id"] for j in job_list["jobs"]] == sorted(added["jobs"], reverse=True)

    job_id = str(min(added["jobs"]))
    updated = cli(oa, server, "job", "update", "--:job", job_id, "--status", "Success")
    updated_job = cli(oa, server, "job", "update", "--:job", job_id, "--count", "5").json()
    assert updated.json()["status"] == "Success"
    assert (updated_job["status"], updated_job["count"], updated_job["version"]) == (
        "Success",
        5,
        None,  # the CLI sends version: false, no change
    )
    both = cli(oa, server, "job", "update", "--:job", job_id, "--status", "Fail", "--count", "6")
    assert (both.json()["status"], both.json()["count"]) == ("Fail", 6)
    read = cli(oa, server, "job", "get", "--:job", job_id).json()
    assert (read["status"], read["count"]) == ("Fail", 6)
    assert cli(oa, server, "run", "get", "--:run", run_id).json()["status"] == "Fail"

    fresh = cli(oa, server, "run", "create", "--live", "true").json()
    assert fresh["live"] is True
    closed = cli(oa, server, "run", "update", "--:run", str(fresh["id"]), "--closed", "true")
    assert closed.json()["closed"] is True
    assert cli(oa, server, "run", "get", "--:run", str(fresh["id"])).json()["closed"] is True
    assert cli(oa, server, "job", "log", "--:job", job_id).json() == []

    missing = cli(oa, server, "run", "get", "--:run", "999999")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "404: run not found" in missing.stderr.splitlines()
    refused = cli(
        oa, server, "run", "create_jobs", "--:run", run_id, "--jobs", boston, "--jobs", boston
    )
    assert refused.returncode == 1 and refused.stderr.strip().startswith("409: ")  # closed
    wrong = cli(oa, server, "run", "create", secret="not-the-secret")
    assert wrong.returncode == 1 and wrong.stderr.strip().startswith("401: ")
    assert "No .message" not in wrong.stderr
