"""``/docs`` works offline: every asset the page loads is served by the app itself, none from a CDN."""

from __future__ import annotations

import fnmatch
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tesla.server._docs import ASSETS
from tesla.server.app import create_app

ROOT = Path(__file__).resolve().parents[2]


class _Assets(HTMLParser):
    """The URLs a page's <script src> and <link href> load."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [v for k, v in attrs if k == wanted and v]


@pytest.fixture
def client(project: Path) -> TestClient:
    return TestClient(create_app(project))


def _asset_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_every_asset_of_the_docs_page_is_served_by_the_app(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text, "the page names an outside URL"
    urls = _asset_urls(page.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
    for url in [*urls, "/openapi.json"]:  # the document the page renders, too
        resp = client.get(url)
        assert resp.status_code == 200 and resp.content, url
    assert client.get(urls[0]).headers["content-type"].split(";")[0] in ("text/css", "text/javascript",
                                                                         "application/javascript")


def test_the_page_turns_off_the_online_validator_badge(client: TestClient) -> None:
    # Swagger UI's default validatorUrl sends the document to validator.swagger.io
    assert '"validatorUrl": null' in client.get("/docs").text


def test_behind_a_prefix_every_url_keeps_it(project: Path) -> None:
    client = TestClient(create_app(project), root_path="/tesla")
    page = client.get("/docs").text
    assert all(u.startswith("/tesla/docs/assets/") for u in _asset_urls(page))
    assert "url: '/tesla/openapi.json'" in page


def test_redoc_is_not_served(client: TestClient) -> None:
    resp = client.get("/redoc")
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "NotFound"


def test_a_missing_asset_is_a_404_in_the_error_shape(client: TestClient) -> None:
    resp = client.get("/docs/assets/nope.js")
    assert resp.status_code == 404 and resp.json()["error"]["key"] == "path"
    assert client.get("/docs/assets/../app.py").status_code == 404


def test_the_wheel_ships_every_asset_with_its_license() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tesla.server"]
    files = {p.relative_to(ASSETS.parents[1]).as_posix() for p in ASSETS.iterdir()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"} <= {Path(f).name for f in files}
    unshipped = {f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in data)}
    assert not unshipped
