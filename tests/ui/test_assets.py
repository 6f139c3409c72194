"""The web UI's page and assets are served by the app and shipped in the wheel, and name no outside URL."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

from tesla.server.app import create_app
from tesla.server.ui import ASSETS

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_and_each_asset_it_loads_are_served(project: Path) -> None:
    client = TestClient(create_app(project))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="(ui/assets/[^"]+)"', page.text)
    assert sorted(u.rsplit("/", 1)[-1] for u in urls) == ["app.js", "style.css"]
    for url in urls:
        assert client.get(f"/{url}").status_code == 200, url
    assert client.get("/ui/assets/app.js").headers["content-type"].split(";")[0] in ("text/javascript",
                                                                                    "application/javascript")
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is no API route


def test_no_asset_names_an_outside_url() -> None:
    for asset in ASSETS.iterdir():
        # the SVG namespace is an identifier the browser never fetches
        text = asset.read_text().replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https?://", text), asset.name


def test_the_wheel_ships_every_asset() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "tesla.server.ui" in setuptools["packages"]
    assert setuptools["package-data"]["tesla.server.ui"] == ["assets/*"]
    assert {p.name for p in ASSETS.iterdir()} == {"index.html", "app.js", "style.css"}
