"""Price tables, cost estimates and the budget guard shared by the cloud backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla.errors import ConfigError
from tesla.execution.cost import CostEstimate, check_budget, default_prices_path, job_line, load_prices


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "prices.yaml").write_text(text)
    return tmp_path


def test_shipped_table_prices_each_backends_default_instance() -> None:
    assert default_prices_path().is_file()
    assert load_prices("sagemaker")["ml.m5.large"] > 0
    assert load_prices("sagemaker", kind="hosting")["ml.m5.large"] > 0
    assert load_prices("vertex")["n1-standard-4"] > 0


def test_project_table_overrides_entries_one_by_one(tmp_path: Path) -> None:
    project = _project(tmp_path, "sagemaker:\n  training:\n    ml.m5.large: 0.5\n    ml.custom.big: 9\n")
    prices = load_prices("sagemaker", project_dir=project)
    assert prices["ml.m5.large"] == 0.5 and prices["ml.custom.big"] == 9.0
    assert prices["ml.c5.xlarge"] == load_prices("sagemaker")["ml.c5.xlarge"]  # untouched entries kept


@pytest.mark.parametrize(("text", "expected"), [
    ("sagemaker:\n  training:\n    ml.m5.large: cheap\n", "price of 'ml.m5.large' in '"),
    ("sagemaker:\n  training:\n    ml.m5.large: -1\n", "must be a number of USD per hour >= 0; got -1"),
    ("- a\n- b\n", "must map backend -> {training: {TYPE: USD_PER_HOUR}}; got list"),
    ("sagemaker: [\n", "cannot be read (expected the node content, but found '<stream end>' at line 2)"),
], ids=["word", "negative", "list", "bad-yaml"])
def test_bad_price_tables_are_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_prices("sagemaker", project_dir=_project(tmp_path, text))
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_job_costs_price_times_max_runtime_times_count() -> None:
    line = job_line("search", "ml.m5.xlarge", count=2, max_runtime_s=5400, prices={"ml.m5.xlarge": 0.23})
    assert (line.hours, line.usd) == (1.5, pytest.approx(0.69))
    assert job_line("x", "ml.nope", count=1, max_runtime_s=60, prices={}).usd is None


def _estimate() -> CostEstimate:
    lines = tuple(job_line(s, "ml.m5.large", count=1, max_runtime_s=3600, prices={"ml.m5.large": 0.115})
                  for s in ("load", "split", "search"))
    return CostEstimate(backend="sagemaker", lines=lines)


def test_sweeps_multiply_out_and_cached_steps_cost_nothing() -> None:
    est = _estimate()
    assert est.usd == pytest.approx(0.345)
    assert est.times(4).usd == pytest.approx(4 * 0.345)
    assert est.without({"load", "split"}).usd == pytest.approx(0.115)
    assert CostEstimate.from_dict(est.times(2).to_dict()) == est.times(2)
    with pytest.raises(ConfigError, match="at least 1 point"):
        est.times(0)


@pytest.mark.parametrize(("estimate", "max_usd", "expected"), [
    (_estimate(), 0.3, "plan 'train/x' may cost up to $0.34 (3 job(s) on ml.m5.large for up to 1 h each), above "
                       "backend.max_usd=0.3; raise backend.max_usd, lower backend.max_runtime_s or pick a cheaper "
                       "instance type"),
    (_estimate().times(3), 1.0, "plan 'train/x' may cost up to $1.03 (3 job(s) on ml.m5.large for up to 1 h each "
                                "x 3 sweep points), above backend.max_usd=1"),
    (CostEstimate("sagemaker", (job_line("s", "ml.new.type", count=1, max_runtime_s=60, prices={}),)), 5.0,
     "cannot check backend.max_usd=5 for plan 'train/x': no price for ml.new.type in conf/prices.yaml; add it "
     "under 'sagemaker: training:' in your project's conf/prices.yaml"),
], ids=["over", "sweep-over", "unpriced"])
def test_budget_guard_messages(estimate: CostEstimate, max_usd: float, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_budget(estimate, max_usd, what="plan 'train/x'")
    assert str(info.value).startswith(expected) and info.value.key == "backend.max_usd"


def test_budget_guard_passes_within_budget_and_without_one() -> None:
    check_budget(_estimate(), 0.35, what="plan 'train/x'")
    check_budget(CostEstimate("sagemaker", (job_line("s", "ml.new.type", count=1, max_runtime_s=60, prices={}),)),
                 None, what="plan 'train/x'")
