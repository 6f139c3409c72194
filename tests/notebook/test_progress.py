"""Progress in a Jupyter kernel: plain lines (or a tqdm widget), never a redrawn line's escape codes."""

from __future__ import annotations

import io

import pytest

from tesla.cli import render
from tesla.execution import Event


def _trial(n: int) -> Event:
    return Event("step_progress", step="search", data={"trials": n, "total": 3, "best_loss": 0.5 / n,
                                                       "estimator": "lgbm"})


def test_no_kernel_runs_the_tests() -> None:
    assert render.in_notebook() is False


@pytest.mark.parametrize("renderer", [render.ProgressRenderer, render.IngestRenderer])
def test_in_a_notebook_a_tty_answer_is_not_trusted(monkeypatch: pytest.MonkeyPatch, renderer: type) -> None:
    monkeypatch.setattr(render, "in_notebook", lambda: True)
    assert renderer(stream_is_tty=True).tty is False


def test_the_search_shows_plain_lines_in_a_notebook_without_widgets(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render, "in_notebook", lambda: True)
    monkeypatch.setattr(render, "_notebook_bar", lambda total: None)  # tqdm or ipywidgets missing
    show = render.ProgressRenderer(stream_is_tty=True)
    for n in (1, 2, 3):
        show(_trial(n))
    show(Event("step_finished", step="search", data={"seconds": 1.0}))
    err = capsys.readouterr().err
    assert "trial 3/3  best loss 0.16667  (lgbm)" in err and "search    done" in err
    assert "\r" not in err and "\x1b" not in err


def test_a_notebook_with_widgets_gets_one_tqdm_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    tqdm = pytest.importorskip("tqdm")

    bars: list[object] = []

    def bar(total: int | None) -> object:
        bars.append(tqdm.tqdm(total=total, file=io.StringIO()))
        return bars[-1]

    monkeypatch.setattr(render, "in_notebook", lambda: True)
    monkeypatch.setattr(render, "_notebook_bar", bar)
    show = render.ProgressRenderer()
    for n in (1, 3):
        show(_trial(n))
    assert len(bars) == 1 and bars[0].n == 3
    show(Event("step_finished", step="search", data={"seconds": 1.0}))
    assert show._tqdm is None
