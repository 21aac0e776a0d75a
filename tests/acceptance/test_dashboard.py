"""The dashboard at /ui/ in a real browser (Playwright driving Debian's Chromium) against the
real server, on each store: every page loads with no console error and no request to another
origin; it follows the API live; its actions work with the secret and are refused without.

One server per store serves the whole module (each test uses names of its own), and one
browser. Screenshots of every page go to the tests' temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.acceptance.dashboard_data import dead_job, fill, ok, wait_for
from tests.acceptance.lorawan_sim import running_simulator
from tests.acceptance.server import Server, start_server, stop_server
from tests.conftest import BACKENDS, fresh_database

pytestmark = pytest.mark.acceptance

CHROMIUM = "/usr/bin/chromium"
SECRET = "dashboard-secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}
PAGES = ("/ui/", "/ui/queues/mail", "/ui/keys", "/ui/keys/nightly-scan", "/ui/sources",
         "/ui/queues/boss%2Ftiger", "/ui/runs", "/ui/exchange", "/ui/deveui")  # fmt: skip
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
T = TypeVar("T")
WAIT_MS = 2000  # "changes appear within 2 s without a reload"


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: in CI the dashboard's browser tests must run")
    pytest.skip(f"{why}; install it (apt-get install chromium) to run the dashboard tests")


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest, sqlite_template: Path) -> Iterator[Any]:
    """Chromium, for this module only: Playwright's sync API keeps an event loop running in
    this thread while it is open, which the async tests after this module could not share.
    The database templates are made first, for the same reason."""
    with contextlib.suppress(pytest.skip.Exception):  # no PostgreSQL: its tests skip (or fail)
        request.getfixturevalue("pg_template")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[tuple[Server, dict[str, Any]]]:
    """A server with a secret, filled with data from every face (DevEUI against the
    simulator), and what :func:`fill` made."""
    directory = tmp_path_factory.mktemp(f"dashboard-{request.param}")
    database = fresh_database(request, directory, sqlite_template)
    url = _off_the_loop(database.__enter__)
    try:
        with running_simulator("--latency-ms", "5", "--seed", "3") as sim:
            env = {"BATCHYARD_SECRET": SECRET, "BATCHYARD_LORAWAN_URL": sim.url}
            server = start_server(url, directory, env=env)
            try:
                with server.client(headers=AUTH) as http:
                    made = fill(http, deveui=True)
                yield server, made
            finally:
                stop_server(server)
    finally:
        _off_the_loop(lambda: database.__exit__(None, None, None))


def _off_the_loop(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own: the database helpers run asyncio.run, which the
    thread holding Playwright's sync API (its event loop running) cannot."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


class Watched:
    """A page whose console errors, failed requests and requests to other origins are kept."""

    def __init__(self, browser: Any, server: Server, **context: Any) -> None:
        self.context = browser.new_context(base_url=server.url, **context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.foreign: list[str] = []
        origin = urlsplit(server.url).netloc
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def seen(req: Any) -> None:
            parts = urlsplit(req.url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != origin:
                self.foreign.append(req.url)

        self.page.on("request", seen)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any, served: tuple[Server, dict[str, Any]]) -> Iterator[Watched]:
    page = Watched(browser, served[0], viewport={"width": 1280, "height": 800})
    yield page
    page.close()
    assert page.errors == [], "console errors"
    assert page.foreign == [], "requests to another origin"


def expect() -> Any:
    from playwright.sync_api import expect

    return expect


def api(server: Server) -> httpx.Client:
    return server.client(headers=AUTH)


def test_every_page_loads_clean_and_is_screenshot(
    browser: Any, served: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    server, made = served
    pages = [*PAGES, f"/ui/jobs/{made['dead']}", f"/ui/jobs/{made['active']}",
             f"/ui/runs/{made['run']}", f"/ui/jobs/{made['run_jobs'][0]}"]  # fmt: skip
    for size, viewport in (("desktop", (1280, 800)), ("phone", (390, 844))):
        watched = Watched(browser, server, viewport={"width": viewport[0], "height": viewport[1]})
        try:
            for number, path in enumerate(pages):
                answer = watched.page.goto(path)
                assert answer is not None and answer.status == 200, path
                expect()(watched.page.locator("#live")).to_be_visible()
                if path == "/ui/":
                    expect()(watched.page.locator("#rates canvas")).to_be_visible()
                name = f"{size}-{number:02d}-{path.strip('/').replace('/', '_') or 'ui'}.png"
                watched.page.screenshot(path=str(tmp_path / name), full_page=True)
            wide = watched.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport[0] + 1, "the page itself scrolls sideways (tables may)"
        finally:
            watched.close()
        assert watched.errors == [], f"console errors at {size} width"
        assert watched.foreign == [], "requests to another origin"
    assert len(list(tmp_path.glob("*.png"))) == 2 * len(pages)


def test_a_job_enqueued_through_the_api_shows_without_a_reload(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    watched.page.goto("/ui/")
    row = watched.page.locator('tr[data-queue="live-arrivals"]')
    expect()(watched.page.locator("#queues")).to_be_visible()
    assert row.count() == 0
    with api(server) as http:
        ok(http.post("/api/v1/queues/live-arrivals/jobs", json={"payload": 1}))
    expect()(row).to_be_visible(timeout=WAIT_MS)
    expect()(row.locator("td.available")).to_have_text("1", timeout=WAIT_MS)
    with api(server) as http:
        ok(http.post("/api/v1/queues/live-arrivals/jobs", json={"payload": 2}))
    expect()(row.locator("td.available")).to_have_text("2", timeout=WAIT_MS)


def test_a_key_held_then_released_through_the_api(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    with api(server) as http:
        ok(http.post("/api/v1/process", json={"process_name": "grid", "key_set_size": 3}))
        watched.page.goto("/ui/keys/grid")
        key = watched.page.locator("#key-0")
        expect()(key).to_have_attribute("data-state", "free")
        body = {"process_name": "grid", "machine": "box-7", "lease_seconds": 600}
        held = ok(http.post("/api/v1/process/batch_keys", json=body), 201)
        assert held["key"] == 0
        expect()(key).to_have_attribute("data-state", "held", timeout=WAIT_MS)
        expect()(key.locator(".who")).to_have_text("box-7")
        expect()(key.locator("[data-countdown]")).to_contain_text("in ")
        ok(http.delete(f"/api/v1/process/batch_keys/{held['external_id']}"))
        expect()(key).to_have_attribute("data-state", "free", timeout=WAIT_MS)


def job_state(http: httpx.Client, job_id: int, queue: str = "mail") -> str:
    state: str = ok(http.get(f"/api/v1/queues/{queue}/jobs/{job_id}"))["state"]
    return state


def test_retrying_a_dead_job_from_its_page(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    with api(server) as http:
        job_id = dead_job(http, "retry-here")
        assert job_state(http, job_id, "retry-here") == "dead"
        page = watched.page
        page.goto(f"/ui/jobs/{job_id}")
        expect()(page.locator("#job-error")).to_contain_text("SMTP 550")
        retry = page.locator(f"#retry-{job_id}")
        expect()(retry).to_be_disabled()  # the server has a secret, the page does not yet
        expect()(page.locator("#actions-why")).to_be_visible()
        page.fill("#secret-input", SECRET)
        page.press("#secret-input", "Enter")
        expect()(retry).to_be_enabled()
        expect()(page.locator("#actions-why")).to_be_hidden()
        page.once("dialog", lambda dialog: dialog.accept())
        retry.focus()
        page.keyboard.press("Enter")  # keyboard reachable
        expect()(page.locator("#flash")).to_contain_text("done")
        wait_for(lambda: job_state(http, job_id, "retry-here") == "available")
        expect()(page.locator("#job-state")).to_have_text("available", timeout=WAIT_MS)


def test_actions_are_refused_without_the_secret(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    with api(server) as http:
        job_id = dead_job(http, "keep-dead")
    page = watched.page
    page.goto(f"/ui/jobs/{job_id}")
    # a wrong secret: the button is enabled, the API refuses, the job stays dead
    page.fill("#secret-input", "not-the-secret")
    page.press("#secret-input", "Enter")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#retry-{job_id}")
    expect()(page.locator("#flash")).to_contain_text("refused (403)")
    # dismissing the confirmation sends nothing
    page.click("#secret-forget")
    page.fill("#secret-input", SECRET)
    page.press("#secret-input", "Enter")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click(f"#retry-{job_id}")
    with api(server) as http:
        assert job_state(http, job_id, "keep-dead") == "dead"
    # and the API itself, without any secret
    assert (
        httpx.post(f"{server.url}/api/v1/queues/keep-dead/jobs/{job_id}/retry").status_code == 401
    )
    watched.errors = [e for e in watched.errors if "403" not in e]  # the refused fetch's line


def test_a_queue_in_claim_order_pages_as_claims_take(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    jobs = [{"payload": i, "priority": i % 3} for i in range(55)]  # two pages of 50
    with api(server) as http:
        made = ok(http.post("/api/v1/queues/claim-order/jobs", json={"jobs": jobs}))["jobs"]
    ids = [job["id"] for job in made]
    expected = sorted(ids, key=lambda i: (-((i - ids[0]) % 3), i))
    page = watched.page
    page.goto("/ui/queues/claim-order")
    page.select_option("#order", "claim")
    page.click("form.filters button[type=submit]")
    expect()(page.locator("#claim-note")).to_be_visible()
    rows = page.locator("#jobs tbody tr[data-job]")
    expect()(rows).to_have_count(50)
    first = [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.job)")]
    assert first == expected[:50]
    page.click("#next-page")
    expect()(rows).to_have_count(5)
    rest = [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.job)")]
    assert rest == expected[50:]
    expect()(page.locator("#next-page")).to_have_count(0)
    # the API's claims take the same order
    with api(server) as http:
        body = {"worker": "w", "n": 3}
        claimed = ok(http.post("/api/v1/queues/claim-order/claim", json=body))["jobs"]
    assert [job["id"] for job in claimed] == expected[:3]


def _unlock(page: Any) -> None:
    page.fill("#secret-input", SECRET)
    page.press("#secret-input", "Enter")


def _confirm_click(page: Any, button: Any) -> None:
    expect()(button).to_be_enabled()
    label = (button.text_content() or "").strip()
    page.evaluate("document.getElementById('flash').textContent = ''")  # not the last one's
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    expect()(page.locator("#flash")).to_contain_text(f"{label}: done")


def _entry(http: httpx.Client, entry: int) -> dict[str, Any]:
    found: dict[str, Any] = ok(http.get(f"/api/v1/exchange/entries/{entry}"))
    return found


def test_a_job_of_another_face_is_cancelled_and_retried_from_its_page(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    entries = [{"tracking_id": "c1", "content": 1}]
    with api(server) as http:
        batch = ok(
            http.post("/api/v1/exchange/batches", json={"name": "ui-cancel", "entries": entries})
        )
        (entry,) = ok(http.get(f"/api/v1/exchange/batches/{batch['id']}/entries"))
        page = watched.page
        page.goto(f"/ui/jobs/{entry['id']}")
        _unlock(page)
        _confirm_click(page, page.locator(f"#cancel-{entry['id']}"))
        wait_for(lambda: _entry(http, entry["id"])["status"] == "IGNORED")
        _confirm_click(page, page.locator(f"#retry-{entry['id']}"))
        wait_for(lambda: _entry(http, entry["id"])["status"] == "PENDING")
        expect()(page.locator("#job-state")).to_have_text("available", timeout=WAIT_MS)
    # a key is no job to retry or cancel: its page says where its action is
    page.goto("/ui/keys/nightly-scan")
    page.goto(page.locator("a", has_text="as a queue").get_attribute("href") or "")
    expect()(page.locator(".no-actions").first).to_contain_text("release it")
    key_job = page.locator("#jobs tbody tr[data-job]").first.get_attribute("data-job")
    with api(server) as http:  # nor does the dashboard's route cancel one, secret or not
        refused = http.post(f"/ui/actions/jobs/{key_job}/cancel")
        assert refused.status_code == 409, refused.text
        assert "release it" in refused.json()["detail"]
    # and the dashboard's own action needs the secret like any POST
    assert httpx.post(f"{server.url}/ui/actions/jobs/{entry['id']}/cancel").status_code == 401


def test_releasing_a_held_key_from_the_grid(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    with api(server) as http:
        ok(http.post("/api/v1/process", json={"process_name": "release-me", "key_set_size": 2}))
        body = {"process_name": "release-me", "machine": "box-1", "lease_seconds": 600}
        ok(http.post("/api/v1/process/batch_keys", json=body), 201)
    page = watched.page
    page.goto("/ui/keys/release-me")
    key = page.locator("#key-0")
    expect()(key).to_have_attribute("data-state", "held")
    expect()(page.locator("#release-0")).to_be_disabled()  # no secret in the page yet
    _unlock(page)
    _confirm_click(page, page.locator("#release-0"))
    expect()(key).to_have_attribute("data-state", "free", timeout=WAIT_MS)


def test_resetting_a_consumer_and_acknowledging_a_batch(
    served: tuple[Server, dict[str, Any]], watched: Watched
) -> None:
    server, _ = served
    entries = [{"tracking_id": f"r{i}", "content": i} for i in range(2)]
    done = [{"tracking_id": "ok", "content": 1, "status": "OK"}]
    with api(server) as http:
        ok(http.post("/api/v1/exchange/batches", json={"name": "ui-reset", "entries": entries}))
        finished = ok(
            http.post("/api/v1/exchange/batches", json={"name": "ui-ack", "entries": done})
        )
        body = {"consumer": "resettable-9", "max": 100}
        claimed = ok(http.post("/api/v1/exchange/entries/claim", json=body))
        assert claimed
        page = watched.page
        page.goto("/ui/exchange")
        _unlock(page)
        consumer = page.locator("p.consumer", has_text="resettable-9")
        _confirm_click(page, consumer.locator("button"))
        wait_for(lambda: all(_entry(http, e["id"])["status"] == "PENDING" for e in claimed))
        expect()(consumer).to_have_count(0, timeout=WAIT_MS)
        _confirm_click(page, page.locator(f"#ack-{finished['id']}"))
        gone = http.get(f"/api/v1/exchange/batches/{finished['id']}")
        assert gone.status_code == 404
        expect()(page.locator(f"#ack-{finished['id']}")).to_have_count(0, timeout=WAIT_MS)


def test_deleting_a_deveui_batch(served: tuple[Server, dict[str, Any]], watched: Watched) -> None:
    server, made = served
    batch_id = made["deveui"]["id"]
    page = watched.page
    page.goto("/ui/deveui")
    button = page.locator(f'#deveui-batches button[data-action="/api/v1/batches/{batch_id}"]')
    _unlock(page)
    _confirm_click(page, button)
    with api(server) as http:
        wait_for(lambda: http.get(f"/api/v1/batches/{batch_id}").status_code == 404)
    expect()(button).to_have_count(0, timeout=WAIT_MS)
