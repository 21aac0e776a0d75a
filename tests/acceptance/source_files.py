"""A local HTTP server of OpenAddresses source files, for the runs face's explode.

``source_files()`` serves ``FILES`` on 127.0.0.1 (a free port) in a thread and yields its base
URL; a server started with ``BATCHYARD_RUNS_SOURCE_HOSTS=127.0.0.1`` may fetch from it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCHEMA_2 = {
    "schema": 2,
    "layers": {
        "addresses": [{"name": "city"}, {"name": "county"}],
        "parcels": [{"name": "town"}],
    },
}
SCHEMA_2_ONE_LAYER = {"schema": 2, "layers": {"buildings": [{"name": "fire"}]}}
SCHEMA_1 = {"schema": 1, "type": "http", "data": "https://example.com/a.zip", "coverage": {}}
FILES: dict[str, tuple[str, bytes]] = {  # path -> (content type, body)
    # raw.githubusercontent.com answers text/plain for JSON files
    "/sources/us/dc/statewide.json": ("text/plain; charset=utf-8", json.dumps(SCHEMA_2).encode()),
    "/sources/us/ma/boston.json": ("application/json", json.dumps(SCHEMA_2_ONE_LAYER).encode()),
    "/sources/us/old.json": ("text/plain; charset=utf-8", json.dumps(SCHEMA_1).encode()),
    "/sources/us/text.json": ("text/plain; charset=utf-8", b"this is not JSON {"),
}


class _SourceFiles(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = FILES.get(self.path)
        content_type, body = found or ("text/plain", b"not found")
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def source_files() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving ``FILES``; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SourceFiles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]
