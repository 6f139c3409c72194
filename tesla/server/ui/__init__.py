"""The web UI at ``/`` of ``tesla server``: one HTML page, one JS module and a stylesheet, shipped in the package.

The page (``assets/index.html``) renders runs, models (with their evaluations and newest report, in a sandboxed
frame), datasets, deployments (with live traffic charts, read every few seconds while that view is open) and
monitoring checks from the same REST routes the CLI's remote client calls (``tesla/routes.py``); it draws its
charts as SVG itself, so it needs no CDN, no vendored library and no build step. Its URLs are relative: it works
behind a prefix.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_ui"]

ASSETS = Path(__file__).parent / "assets"


def install_ui(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/ui/assets``. Both are open: the page holds no data;
    every API call it makes carries the token the user gives it (kept in the tab's sessionStorage)."""
    app.mount("/ui/assets", StaticFiles(directory=ASSETS), name="ui-assets")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(ASSETS / "index.html", media_type="text/html")
