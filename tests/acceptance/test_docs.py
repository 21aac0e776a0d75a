"""``GET /docs`` works offline: the Swagger page loads nothing but files the server serves."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from tests.acceptance.server import running_server

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


class _References(HTMLParser):
    """Every URL the page makes the browser load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (what, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for wanted, attr in (("script", "src"), ("link", "href"), ("img", "src")):
            url = values.get(attr)
            if tag == wanted and url:
                self.found.append((values.get("rel") or tag, url))


def test_docs_reference_only_the_servers_own_assets(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path}/d.db", tmp_path) as srv, srv.client() as http:
        page = http.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        references = _References()
        references.feed(page.text)
        kinds = sorted(kind for kind, _ in references.found)
        assert kinds == ["icon", "script", "script", "stylesheet"], references.found
        for kind, ref in references.found:
            url = urljoin(srv.url + "/docs", ref)
            assert urlsplit(url)[:2] == urlsplit(srv.url)[:2], f"{kind} from elsewhere: {ref}"
            asset = http.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
            media_type = asset.headers["content-type"].split(";")[0]
            assert media_type in CONTENT_TYPES[Path(urlsplit(url).path).suffix], (url, media_type)
        assert http.get("/docs/openapi.json").json()["info"]["title"] == "batchyard"
        assert "/docs/assets/{file_path}" not in http.get("/docs/openapi.json").json()["paths"]
        assert http.get("/docs/assets/LICENSE").text.lstrip().startswith("Apache License")
