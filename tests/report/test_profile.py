"""`tesla data profile`: distributions, missing values, associations, target, duplicates and warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tesla.report.profile import profile_frame

from tests.evaluation.test_plots import assert_self_contained


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    y = (x + rng.normal(0, 0.5, n) > 1.2).astype(int)
    df = pd.DataFrame({
        "id": [f"C{i:05d}" for i in range(n)],  # an id: high cardinality
        "x": x, "x_twice": 2 * x + 1,  # perfectly correlated pair
        "plan": rng.choice(["a", "b", "c"], n),
        "constant": 7,
        "mostly_missing": np.where(rng.random(n) < 0.8, np.nan, 1.0),
        "leak": y,  # the target itself
        "target": y,
    })
    return pd.concat([df, df.head(5)], ignore_index=True)  # 5 duplicate rows


def test_the_profile_finds_what_a_data_scientist_should_know(frame: pd.DataFrame) -> None:
    prof = profile_frame(frame, name="demo@1", target="target", kinds={"id": "text"})
    cols = {c.name: c for c in prof.columns}
    assert prof.rows == 605 and prof.duplicates == 5
    assert cols["mostly_missing"].missing == frame["mostly_missing"].isna().sum()
    assert cols["x"].stats["p50"] == pytest.approx(frame["x"].median())
    assert sum(v for _, v in cols["x"].histogram) == 605
    assert prof.target_balance == frame["target"].astype(str).value_counts().to_dict()
    assert prof.associations[0]["association"] == pytest.approx(1.0) and {prof.associations[0]["a"],
                                                                          prof.associations[0]["b"]} == {"x", "x_twice"}
    assert cols["leak"].target_association == pytest.approx(1.0, abs=0.01)
    assert cols["x"].target_association > cols["plan"].target_association
    assert cols["id"].target_association is None  # an id's Cramér's V says nothing
    text = "\n".join(prof.warnings)
    for expected in ("constant is constant", "id has high cardinality", "mostly_missing is missing in 8",
                     "leak is a leakage suspect", "5 duplicate rows"):
        assert expected in text, text
    assert "x is a leakage suspect" not in text
    assert_self_contained(prof.report_html)
    assert prof._repr_html_() == prof.report_html and "<h2>Distributions</h2>" in prof.report_html


def test_the_cli_prints_a_summary_and_stores_a_report(tmp_path: Path, frame: pd.DataFrame) -> None:
    from tesla import api
    from tests.conftest import run_tesla

    root = api.init_project(tmp_path / "proj")
    frame.to_csv(tmp_path / "demo.csv", index=False)
    api.load(tmp_path / "demo.csv", "demo", target="target", project_dir=root)
    out = run_tesla("data", "profile", "demo@1", cwd=root)
    assert "605 rows, 5 duplicate rows" in out.stdout and "warning: leak is a leakage suspect" in out.stdout
    report = Path(out.stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report.parent == root / ".tesla" / "reports" / "profile" and report.exists()
    bad = run_tesla("data", "profile", "demo@x", cwd=root, check=False)
    assert bad.returncode == 2 and "NAME@V" in bad.stderr and "Traceback" not in bad.stderr
