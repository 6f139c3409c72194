"""The web UI at ``/`` in a real browser (Debian's Chromium, headless) against a ``tesla server`` the tests start.

Every view loads with no console error and no failed request, the navigation links reach each view, the
charts draw data points, a model shows its evaluations and its newest report (plots included) in a sandboxed
frame, the deployments view charts a running deployment's live traffic (and stops reading it once left), and a
project with users asks for a token once and then sends it. Screenshots are saved under each test's tmp dir;
their names are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tesla import Project
from tests.conftest import run_tesla
from tests.ui.conftest import send_traffic, start_server, stop_server

pytestmark = pytest.mark.timeout(600)

VIEWS = ("runs", "models", "datasets", "deployments", "monitoring")


class _Watch:
    """A page with its console errors, page errors and failed requests collected."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} on {r.url}"))

    def open(self, url: str) -> None:
        """Go to ``url`` and wait until the view has rendered (the app marks ``#view[data-loaded]``)."""
        self.page.goto(url)
        self.wait_rendered(url.split("#", 1)[1] if "#" in url else "")

    def wait_rendered(self, hash_: str = "") -> None:
        sel = f'#view[data-loaded="#{hash_}"]' if hash_ else "#view[data-loaded]"
        self.page.wait_for_selector(sel, timeout=15000)

    def shot(self, directory: Path, name: str) -> Path:
        path = directory / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def watch(browser: object) -> Iterator[_Watch]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield _Watch(page)
    context.close()


def _no_error_shown(watch: _Watch) -> None:
    errors = watch.page.locator("#view .error").all_inner_texts()
    assert not errors, errors
    assert not watch.problems, watch.problems


def test_every_view_loads_without_errors(watch: _Watch, ui_server: str, tmp_path: Path) -> None:
    for view in VIEWS:
        watch.open(f"{ui_server}/#/{view}")
        assert watch.page.locator("h1").inner_text() == view.capitalize()
        assert watch.page.locator("#view table").count() >= 1, f"{view}: no table"
        watch.shot(tmp_path, view)
    _no_error_shown(watch)


def test_navigation_reaches_each_view_and_the_details(watch: _Watch, ui_server: str, tmp_path: Path) -> None:
    watch.open(f"{ui_server}/")
    assert watch.page.locator("h1").inner_text() == "Runs"  # / opens on the runs
    for view in VIEWS:
        watch.page.click(f'nav a[data-view="{view}"]')
        watch.wait_rendered(f"/{view}")
        assert watch.page.locator("nav a.active").inner_text() == view.capitalize()
    # a run, then its model, then the model's dataset: the lineage links
    watch.page.click('nav a[data-view="runs"]')
    watch.wait_rendered("/runs")
    watch.page.locator("#view td a").first.click()
    watch.page.wait_for_selector('#view[data-loaded^="#/runs/"]')
    assert re.fullmatch(r"Run [0-9a-f]+", watch.page.locator("h1").inner_text())
    watch.page.click('nav a[data-view="models"]')
    watch.wait_rendered("/models")
    watch.page.locator("#view td a", has_text="bc_model@").first.click()
    watch.wait_rendered("/models/bc_model")
    assert "Lineage: dataset bc@1" in watch.page.locator("#view .card").first.inner_text()
    watch.page.locator("#view .card a", has_text="bc@1").click()
    watch.wait_rendered("/datasets/bc")
    assert watch.page.locator("h2", has_text="Profile of bc@1").count() == 1
    assert watch.page.locator("#view svg.spark rect").count() > 10  # histograms of the columns
    watch.shot(tmp_path, "dataset-bc")
    _no_error_shown(watch)


def test_a_view_whose_answer_comes_late_is_not_drawn_over_the_next_one(watch: _Watch, ui_server: str) -> None:
    # CI saw this race: a click on the view already shown re-renders it, and when that answer arrived after
    # the next click's, the old view replaced the new one (and marked itself loaded)
    watch.open(f"{ui_server}/#/datasets")
    held: list[object] = []
    watch.page.route("**/training/runs?*", lambda route: route.continue_() if held else held.append(route))
    watch.page.click('nav a[data-view="runs"]')
    while not held:
        watch.page.wait_for_timeout(20)
    watch.page.click('nav a[data-view="models"]')
    watch.wait_rendered("/models")
    with watch.page.expect_response("**/training/runs?*"):
        held[0].continue_()
    watch.page.evaluate("() => new Promise((done) => setTimeout(done, 300))")  # the late render's turn
    assert watch.page.locator("h1").inner_text() == "Models"
    assert watch.page.get_attribute("#view", "data-loaded") == "#/models"
    _no_error_shown(watch)


def test_a_run_shows_its_leaderboard_search_progress_and_plan_graph(watch: _Watch, ui_server: str, tmp_path: Path) -> None:
    watch.open(f"{ui_server}/#/runs")
    run_id = watch.page.locator("#view td a").first.inner_text()
    watch.open(f"{ui_server}/#/runs/{run_id}")
    leaderboard = watch.page.locator("h2:has-text('Leaderboard') + table tbody tr")
    assert leaderboard.count() >= 1
    chart = watch.page.locator('svg.chart[aria-label="Search progress"]')
    assert chart.locator("circle.point.s0").count() == 2  # -p 2: one point per trial
    assert chart.locator("path.line").count() == 2  # trial loss and best so far
    graph = watch.page.locator('svg.graph[aria-label="plan graph"]')
    assert {"load (load)", "split (split)"} <= set(graph.locator("g.step text").all_text_contents())
    assert graph.locator("path").count() >= 2  # edges between the steps
    watch.shot(tmp_path, "run")
    _no_error_shown(watch)


def test_models_deployments_and_monitoring_draw_their_charts(watch: _Watch, ui_server: str, tmp_path: Path) -> None:
    watch.open(f"{ui_server}/#/models/bc_model")
    assert watch.page.locator('svg[aria-label="Validation metrics"] rect.bar').count() >= 3
    watch.shot(tmp_path, "model")
    watch.open(f"{ui_server}/#/deployments")
    assert watch.page.locator("#view tbody tr", has_text="running").count() == 1
    for title in ("Requests per check", "Latency per check", "Error rate per check"):
        assert watch.page.locator(f'svg[aria-label="{title}"] circle.point').count() >= 1, title  # one check: one point
    watch.shot(tmp_path, "deployments")
    watch.open(f"{ui_server}/#/monitoring")
    drift = watch.page.locator('svg[aria-label^="Drift per feature"] rect.bar')
    assert drift.count() == 30  # one bar per feature of bc
    watch.shot(tmp_path, "monitoring")
    _no_error_shown(watch)


def test_a_model_shows_its_evaluations_and_its_newest_report(watch: _Watch, ui_server: str, tmp_path: Path) -> None:
    watch.open(f"{ui_server}/#/models/bc_model")
    rows = watch.page.locator("#view .card h3:has-text('Evaluations') + table tbody tr")
    assert rows.count() == 1 and "training run" in rows.first.inner_text()  # its run's held-out evaluation
    frame = watch.page.locator("#view iframe.report")
    frame.wait_for(timeout=15000)
    assert frame.get_attribute("sandbox") == ""  # no script, an origin of its own
    document = frame.element_handle().content_frame()
    document.wait_for_selector("svg")
    assert "<svg" in document.content() and "<h2>ROC</h2>" in document.content()  # the plots are drawn
    alone = watch.page.locator("#view a.report-link").get_attribute("href")
    page = watch.page.request.get(f"{ui_server}/{alone}")  # "open the report alone": the same page
    assert page.ok and page.headers["content-type"].startswith("text/html") and "<svg" in page.text()
    watch.shot(tmp_path, "model-report")
    _no_error_shown(watch)


def _point_values(chart: object) -> list[float]:
    """The y value of each point of a ``lineChart`` (its title reads ``NAME at X: Y``)."""
    return [float(t.rsplit(": ", 1)[1]) for t in chart.locator("circle.point title").all_text_contents()]


def test_the_deployments_view_charts_live_traffic_while_open(watch: _Watch, ui_server: str, ui_project: Path,
                                                             datasets_dir: Path, tmp_path: Path) -> None:
    watch.open(f"{ui_server}/#/deployments")
    assert watch.page.locator("h2", has_text="Live traffic of bc_model@1 · production").count() == 1
    url = next(d.url for d in Project(ui_project).deployments.list(active_only=True))
    send_traffic(url, datasets_dir / "bc_test.csv")  # three /predict requests
    latency = watch.page.locator('svg[aria-label="Live latency (ms)"]')
    latency.locator("circle.point").first.wait_for(timeout=20000)  # a reading after the requests: their latency
    assert all(ms > 0 for ms in _point_values(latency))
    assert max(_point_values(watch.page.locator('svg[aria-label="Live requests/s"]'))) > 0
    assert watch.page.locator('svg[aria-label="Live error rate"] circle.point').count() >= 1
    assert watch.page.locator("h2", has_text="Per-check history of bc_model · production").count() == 1
    watch.shot(tmp_path, "deployment-live")
    _no_error_shown(watch)
    reads: list[str] = []
    watch.page.on("request", lambda r: "/deployments/live" in r.url and reads.append(r.url))
    watch.page.click('nav a[data-view="runs"]')
    watch.wait_rendered("/runs")
    watch.page.wait_for_timeout(7000)  # more than two reading intervals
    assert reads == [], "the deployments view kept reading live metrics after it was left"


def test_a_server_with_users_asks_for_a_token_once(browser: object, project: Path, tmp_path: Path) -> None:
    run_tesla("users", "add", "ana", cwd=project)
    token = run_tesla("tokens", "create", "ana", cwd=project).stdout
    secret = re.search(r"tesla_\S+", token)
    assert secret, token
    base, proc = start_server(project, tmp_path / "server.log")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/#/runs")
        page.wait_for_selector("#login:not([hidden])", timeout=15000)
        assert "API token" in page.locator("#view .error").inner_text()
        page.fill("#token", secret.group(0))
        page.click("#login button")
        page.wait_for_selector("#view table, #view p.muted", timeout=15000)
        assert page.locator("#login").is_hidden() and page.locator("#view .error").count() == 0
        page.click('nav a[data-view="datasets"]')  # the token is kept: no second prompt
        page.wait_for_selector('#view[data-loaded="#/datasets"]')
        assert page.locator("#login").is_hidden() and page.locator("#view .error").count() == 0
        assert page.evaluate("sessionStorage.getItem('tesla.token')") == secret.group(0)
        page.screenshot(path=str(tmp_path / "token.png"))
        print(f"screenshot: {tmp_path / 'token.png'}")
    finally:
        context.close()
        stop_server(proc)
