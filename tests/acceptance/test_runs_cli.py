"""``batchyard run`` and ``batchyard job``: the real executable against a real server (SQLite:
the CLI only speaks HTTP; the runs face's HTTP tests cover both stores)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import BATCHYARD, Server, running_server

pytestmark = pytest.mark.acceptance

DEADLINE = 60.0
SOURCE = (
    "https://raw.githubusercontent.com/openaddresses/openaddresses/master/sources/us/dc/{}.json"
)
SCHEMA_2 = {
    "schema": 2,
    "layers": {
        "addresses": [{"name": "city"}, {"name": "county"}],
        "buildings": [{"name": "footprints"}],
    },
}


class SourceFiles(http.server.BaseHTTPRequestHandler):
    """Serves SCHEMA_2 at /sources/xx/town.json, 404 elsewhere."""

    def do_GET(self) -> None:
        found = self.path == "/sources/xx/town.json"
        body = json.dumps(SCHEMA_2 if found else {"error": "no"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sources() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SourceFiles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[Server]:
    database = tmp_path / "batchyard.db"
    database.write_bytes(sqlite_template.read_bytes())
    env = {"BATCHYARD_RUNS_SOURCE_HOSTS": "127.0.0.1"}
    with running_server(f"sqlite:///{database}", tmp_path, env=env) as running:
        if httpx.get(f"{running.url}/api/run").status_code == 404:
            pytest.skip("this server has no runs face yet")
        yield running


def cli(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHYARD_URL": server.url}
    env.pop("BATCHYARD_SECRET", None)
    return subprocess.run(
        [BATCHYARD, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def job(name: str) -> dict[str, str]:
    return {"source": SOURCE.format(name), "layer": "addresses", "name": name}


def new_run(server: Server, *jobs: dict[str, str]) -> tuple[int, list[int]]:
    run = as_json(cli(server, "run", "create", "--json"))["id"]
    lines = "".join(json.dumps(one) + "\n" for one in jobs)
    added = as_json(cli(server, "run", "add-jobs", str(run), "-", "--json", stdin=lines))
    ids: list[int] = added["jobs"]
    return run, ids


def patch_job(server: Server, job_id: int, **fields: Any) -> None:
    answer = httpx.patch(f"{server.url}/api/job/{job_id}", json=fields)
    assert answer.status_code == 200, answer.text


def append_log(server: Server, job_id: int, *lines: str) -> None:
    answer = httpx.post(f"{server.url}/api/job/{job_id}/log", json={"lines": list(lines)})
    assert answer.status_code == 201, answer.text


def test_create_a_run_add_jobs_list_and_show_it(server: Server, tmp_path: Path) -> None:
    created = as_json(cli(server, "run", "create", "--live", "--json"))
    assert created["live"] is True and created["closed"] is False
    run = created["id"]
    file = tmp_path / "jobs.jsonl"
    file.write_text(json.dumps(job("city")) + "\n\n" + json.dumps(job("county")) + "\n")
    out = ok(cli(server, "run", "add-jobs", str(run), str(file)))
    assert f"run {run}: added 2 job(s)" in out
    again = cli(server, "run", "add-jobs", str(run), str(file))
    assert again.returncode == 1 and "error:" in again.stderr  # the run is closed now

    listed = ok(cli(server, "run", "list"))
    assert str(run) in listed and "Pending" in listed
    assert as_json(cli(server, "run", "list", "--json"))["total"] == 1
    assert as_json(cli(server, "run", "list", "--live", "false", "--json"))["total"] == 0

    jobs = as_json(cli(server, "run", "show", str(run), "--json"))["jobs"]
    patch_job(server, jobs[0]["id"], status="Success")
    shown = ok(cli(server, "run", "show", str(run)))
    assert "us/dc/city" in shown and "us/dc/county" in shown and "Success" in shown
    assert "1/2 finished (1 Success, 0 Warn, 0 Fail); 0 Running, 1 Pending" in shown
    patch_job(server, jobs[1]["id"], status="Warn")
    assert "2/2 finished (1 Success, 1 Warn, 0 Fail)" in ok(cli(server, "run", "show", str(run)))
    assert as_json(cli(server, "run", "show", str(run), "--json"))["run"]["status"] == "Success"


def test_add_jobs_takes_urls_plain_or_as_json_strings(server: Server, sources: str) -> None:
    run = as_json(cli(server, "run", "create", "--json"))["id"]
    town, missing = f"{sources}/sources/xx/town.json", f"{sources}/sources/xx/gone.json"
    lines = f"{town}\n{json.dumps(missing)}\n{json.dumps(job('city'))}\n"
    added = cli(server, "run", "add-jobs", str(run), "-", stdin=lines)
    assert added.returncode == 1  # one URL could not be fetched: said, the rest is added
    assert "added 4 job(s)" in added.stdout and missing in added.stderr
    jobs = as_json(cli(server, "run", "show", str(run), "--json"))["jobs"]
    layers = sorted((one["source_name"], one["layer"], one["name"]) for one in jobs)
    assert layers == [
        ("us/dc/city", "addresses", "city"),
        ("xx/town", "addresses", "city"),
        ("xx/town", "addresses", "county"),
        ("xx/town", "buildings", "footprints"),
    ]


def test_job_show_log_and_rerun(server: Server) -> None:
    run, (job_id,) = new_run(server, job("city"))
    append_log(server, job_id, "reading", "writing")
    assert ok(cli(server, "job", "log", str(job_id))) == "reading\nwriting\n"
    lines = [
        json.loads(line)
        for line in ok(cli(server, "job", "log", str(job_id), "--json")).splitlines()
    ]
    assert [line["message"] for line in lines] == ["reading", "writing"]
    patch_job(server, job_id, status="Fail", count=12)
    shown = ok(cli(server, "job", "show", str(job_id)))
    assert "Fail" in shown and "count: 12" in shown and SOURCE.format("city") in shown
    assert as_json(cli(server, "job", "show", str(job_id), "--json"))["count"] == 12

    rerun = as_json(cli(server, "job", "rerun", str(job_id), "--json"))
    assert rerun["id"] != run and rerun["status"] == "Pending"
    (copy,) = as_json(cli(server, "run", "show", str(rerun["id"]), "--json"))["jobs"]
    assert (copy["source"], copy["layer"], copy["name"], copy["status"]) == (
        SOURCE.format("city"),
        "addresses",
        "city",
        "Pending",
    )


def test_job_log_follow_prints_until_the_job_is_finished(server: Server) -> None:
    _, (job_id,) = new_run(server, job("city"))
    append_log(server, job_id, "one")
    env = {**os.environ, "BATCHYARD_URL": server.url}
    with subprocess.Popen(
        [BATCHYARD, "job", "log", str(job_id), "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "one\n"
        append_log(server, job_id, "two", "three")
        assert follower.stdout.readline() == "two\n"
        assert follower.stdout.readline() == "three\n"
        assert follower.poll() is None  # still Pending: it keeps following
        append_log(server, job_id, "four")
        patch_job(server, job_id, status="Success")
        out, err = follower.communicate(timeout=DEADLINE)
        assert follower.returncode == 0, err
    assert out == "four\n"


def test_errors_are_one_line_and_an_exit_status(server: Server, tmp_path: Path) -> None:
    missing = cli(server, "run", "show", "999")
    assert missing.returncode == 1 and "run not found" in missing.stderr
    assert cli(server, "job", "show", "999").returncode == 1
    assert cli(server, "job", "log", "999").returncode == 1
    run = as_json(cli(server, "run", "create", "--json"))["id"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "x"\n')
    refused = cli(server, "run", "add-jobs", str(run), str(bad))
    assert refused.returncode == 2 and "line 1" in refused.stderr
    assert cli(server, "run", "add-jobs", str(run), str(tmp_path / "none.jsonl")).returncode == 2
    assert cli(server, "run", "list", "--live", "maybe").returncode == 2
    gone = cli(server, "run", "list", "--url", "http://127.0.0.1:9")
    assert gone.returncode == 1 and "is the server running?" in gone.stderr
