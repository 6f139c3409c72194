"""Results show as small HTML tables in a notebook (``_repr_html_``), rendered by one helper."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tesla.project import Project
from tesla.report.notebook import card_html, embedded_report, rows_html


def test_a_card_escapes_and_shortens_what_it_shows() -> None:
    out = card_html("<b>x</b>", {"nested": {"k": "v" * 200}, "none": None}, [("S", "<p>s</p>"), ("empty", "")])
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "…" in out and "none" not in out
    assert "<h4>S</h4><p>s</p>" in out and "empty" not in out


def test_rows_are_one_table_and_none_says_so() -> None:
    assert rows_html([]) == "<p class='muted'>(none)</p>"
    table = rows_html([{"a": 1, "b": [1, 2]}, {"a": 2}])
    assert table.count("<tr>") == 3 and "[1, 2]" in table


def test_an_embedded_report_drops_the_pages_style() -> None:
    out = embedded_report("<html><head><style>body{margin:9rem}</style></head><body><h1>T</h1><svg></svg></body>"
                          "</html>")
    assert "<style>" not in out and "<svg></svg>" in out and "<h1>" not in out


@pytest.fixture(scope="module")
def shown(trained_project: Path, datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # evaluate records an evaluation: on a copy, the session's trained project is shared
    p = Project(shutil.copytree(trained_project, tmp_path_factory.mktemp("repr") / "proj"))
    run = next(r for r in p.training.runs() if r.plan_name == "train/bc_model")
    return {
        "dataset": p.data.version("bc")._repr_html_(),
        "model": p.training.resolve_model("bc_model")._repr_html_(),
        "run": run._repr_html_(),
        "run report": p.training.run_report(run.id)._repr_html_(),
        "plan": p.training.compile_plan("bc_model", max_iter=5)._repr_html_(),
        "evaluation": p.evaluation.evaluate("bc_model", datasets_dir / "bc_test.csv")._repr_html_(),
    }


@pytest.mark.parametrize(("what", "expected"), [
    ("dataset", ["Dataset bc@1", "target", "mean_radius", "n_unique"]),
    ("model", ["Model bc_model@1", "Held-out metrics"]),
    ("run", ["Run ", "succeeded"]),
    ("run report", ["Leaderboard", "estimator", "Steps"]),
    ("plan", ["Plan train/bc_model", "Steps", "search"]),
    ("evaluation", ["Evaluation of bc_model@1", "Plots and tables", "<svg"]),
])
def test_each_result_shows_its_table(shown: dict[str, str], what: str, expected: list[str]) -> None:
    assert all(e in shown[what] for e in expected), (what, shown[what][:500])
    assert "<table>" in shown[what] and "<style>" not in shown[what]
