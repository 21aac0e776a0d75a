"""``GET /docs`` (Swagger UI) and ``/docs/openapi.json``, working without internet.

Litestar's Swagger page loads its JavaScript, CSS and favicon from public CDNs: a blank page
offline. Here the page points at copies shipped inside the package (``static/swagger-ui``, from
the npm package ``swagger-ui-dist``; ``scripts/update-swagger-ui`` refreshes them), which the
same router serves under ``/docs/assets/``.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from batchyard import __version__

DOCS_PATH = "/docs"
ASSETS = Path(__file__).with_name("static") / "swagger-ui"


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI at the root of the docs router, its files served by that router too."""

    def __init__(self, docs_path: str = DOCS_PATH) -> None:
        assets = f"{docs_path}/assets"
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
            path="/",
        )

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(
            create_static_files_router("/assets", directories=[ASSETS], name="docs-assets")
        )


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="batchyard",
        version=__version__,
        path=DOCS_PATH,
        render_plugins=[OfflineSwagger()],
    )
