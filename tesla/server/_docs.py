"""``/docs``: Swagger UI over the app's OpenAPI document, from assets shipped in the package.

FastAPI's default page loads Swagger UI from a CDN, so it is blank offline; this one loads
``tesla/server/static/swagger-ui`` (npm ``swagger-ui-dist`` 5, see its README there) from
``/docs/assets``. ReDoc is not served: one offline UI is enough, and its page would need
another ~1 MB bundle and Google Fonts.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_docs"]

ASSETS = Path(__file__).parent / "static" / "swagger-ui"


def install_docs(app: FastAPI, url: str = "/docs") -> None:
    """Serve Swagger UI at ``url`` and its assets under ``url + "/assets"`` (the app must be made with
    ``docs_url=None, redoc_url=None``). No OAuth2 redirect page: no route uses an OAuth2 flow."""
    app.mount(f"{url}/assets", StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(url, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        # behind a proxy that strips a prefix, every URL the page loads needs that prefix back
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{url}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{url}/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}{url}/assets/favicon-32x32.png",
            # the "valid" badge would send the document to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None})
