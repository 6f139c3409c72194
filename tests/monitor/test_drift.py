"""Size-aware drift tests: shifts are found at any size, a million unshifted rows never alarm."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tesla.config.schema import MonitorConfig
from tesla.monitor.drift import (
    categorical_drift,
    chi2_test,
    feature_drift,
    jensen_shannon,
    ks_test,
    normalized_wasserstein,
    numeric_drift,
    psi,
)
from tesla.monitor.results import MonitorSettings

# the shipped thresholds (pvalue 0.01, psi 0.2, wasserstein 0.1, js 0.1, large from 5000 rows, min 30), one test
T = MonitorSettings.from_config(dataclasses.asdict(MonitorConfig())).thresholds(1)
MIX = np.array(["basic", "standard", "premium"])


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# -- numeric --------------------------------------------------------------------------------------
def test_a_million_unshifted_rows_do_not_alarm(rng: np.random.Generator) -> None:
    reference = rng.normal(50, 10, 20_000)
    result = numeric_drift("x", reference, rng.normal(50, 10, 1_000_000), T)
    assert result.test == "psi+wasserstein"
    assert result.drifted is False
    assert result.psi < 0.01 and result.wasserstein < 0.03
    assert result.live_rows == 1_000_000


def test_a_negligible_shift_at_a_million_rows_is_significant_but_not_drift(rng: np.random.Generator) -> None:
    # the reason for size-aware tests: KS calls 0.02 std "significant" at this size
    reference, live = rng.normal(0, 1, 200_000), rng.normal(0.02, 1, 1_000_000)
    assert ks_test(reference, live)[1] < 1e-6
    result = numeric_drift("x", reference, live, T)
    assert result.drifted is False
    assert result.wasserstein < T.wasserstein


@pytest.mark.parametrize("rows", [200, 1_000_000], ids=["small-200", "large-1M"])
def test_a_one_std_mean_shift_is_drift_at_any_size(rng: np.random.Generator, rows: int) -> None:
    reference = rng.normal(50, 10, 20_000)
    result = numeric_drift("x", reference, rng.normal(60, 10, rows), T)
    assert result.drifted is True
    if rows < T.large_sample_rows:
        assert result.test == "ks" and result.p_value < 1e-10
    else:
        assert result.test == "psi+wasserstein"
        assert result.psi > 0.5 and result.wasserstein == pytest.approx(1.0, abs=0.05)


def test_an_unshifted_small_sample_passes_ks(rng: np.random.Generator) -> None:
    result = numeric_drift("x", rng.normal(0, 1, 5000), rng.normal(0, 1, 300), T)
    assert result.test == "ks" and result.drifted is False and result.p_value > T.pvalue


def test_too_few_live_rows_give_no_verdict(rng: np.random.Generator) -> None:
    result = numeric_drift("x", rng.normal(0, 1, 500), rng.normal(5, 1, 29), T)
    assert result.drifted is None and result.test == "none"
    assert "29 live values; a verdict needs 30" in result.detail


def test_missing_values_are_counted_not_tested() -> None:
    live = np.array([1.0, np.nan, 2.0, np.nan] * 25)
    result = numeric_drift("x", np.arange(100, dtype=float), live, T)
    assert result.missing_live == 0.5 and result.missing_reference == 0.0
    assert result.live_rows == 50


def test_psi_values() -> None:
    values = np.linspace(0, 1, 10_000)
    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)
    # every live value in the top reference decile: 9 bins at the floor share, 1 bin at 100 %
    shifted = psi(values, np.full(1000, 0.99))
    expected = 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1) + (1 - 0.1) * np.log(1 / 0.1)
    assert shifted == pytest.approx(expected, rel=1e-3)


def test_wasserstein_is_in_reference_std_units(rng: np.random.Generator) -> None:
    reference = rng.normal(0, 4, 50_000)
    assert normalized_wasserstein(reference, reference + 2.0) == pytest.approx(0.5, abs=0.01)
    assert normalized_wasserstein(np.ones(10), np.full(10, 3.0)) == pytest.approx(2.0)  # constant: raw distance


# -- categorical ----------------------------------------------------------------------------------
def test_a_million_rows_with_the_same_mix_do_not_alarm(rng: np.random.Generator) -> None:
    reference = rng.choice(MIX, 10_000, p=[0.5, 0.3, 0.2])
    result = categorical_drift("plan", reference, rng.choice(MIX, 1_000_000, p=[0.5, 0.3, 0.2]), T)
    assert result.test == "js" and result.drifted is False and result.js < 0.02


@pytest.mark.parametrize("rows", [200, 100_000], ids=["small-200", "large-100k"])
def test_a_flipped_category_mix_is_drift_at_any_size(rng: np.random.Generator, rows: int) -> None:
    reference = rng.choice(MIX, 10_000, p=[0.5, 0.3, 0.2])
    result = categorical_drift("plan", reference, rng.choice(MIX, rows, p=[0.2, 0.3, 0.5]), T)
    assert result.drifted is True
    assert result.test == ("chi2" if rows < T.large_sample_rows else "js")


def test_a_category_never_seen_in_training_is_drift() -> None:
    reference = np.array(["a", "b"] * 500)
    live = np.array(["a", "b", "zzz", "zzz"] * 25)
    result = categorical_drift("c", reference, live, T)
    assert result.drifted is True
    assert "zzz" in result.histogram.labels


def test_jensen_shannon_bounds() -> None:
    assert jensen_shannon(np.array([5, 5]), np.array([50, 50])) == pytest.approx(0.0)
    assert jensen_shannon(np.array([10, 0]), np.array([0, 10])) == pytest.approx(1.0)


def test_chi2_with_a_single_category_has_nothing_to_test() -> None:
    assert chi2_test(np.array([10]), np.array([3])) == (0.0, 1.0)


# -- conversions by signature type -------------------------------------------------------------------
def test_booleans_compare_by_meaning_not_spelling() -> None:
    reference = pd.Series([True, False] * 200)
    live = pd.Series(["yes", "no"] * 50)
    result = feature_drift("autopay", "boolean", reference, live, T)
    assert result.test == "chi2" and result.drifted is False
    assert sorted(result.histogram.labels) == ["false", "true"]


def test_integer_categories_match_across_csv_and_json() -> None:
    reference = pd.Series([1, 2, 3] * 100)  # read from a CSV
    live = pd.Series([1.0, 2.0, 3.0] * 20, dtype=object)  # arrived as JSON numbers
    result = feature_drift("tier", "categorical", reference, live, T)
    assert result.drifted is False and set(result.histogram.labels) == {"1", "2", "3"}


def test_datetimes_are_compared_as_time(rng: np.random.Generator) -> None:
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 365, 2000), unit="D")
    later = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, 200), unit="D")
    reference = pd.Series(days.strftime("%Y-%m-%d"))
    assert feature_drift("signup", "datetime", reference, pd.Series(later.strftime("%Y-%m-%d")), T).drifted is True
    same = pd.Series(days[:200].strftime("%Y-%m-%d"))
    assert feature_drift("signup", "datetime", reference, same, T).drifted is False


def test_a_numeric_column_with_few_values_is_tested_as_categories(rng: np.random.Generator) -> None:
    reference = pd.Series(rng.integers(0, 3, 3000))
    result = feature_drift("rating", "numeric", reference, pd.Series(rng.integers(0, 3, 300)), T)
    assert result.test == "chi2" and result.feature_type == "numeric"


def test_text_is_compared_by_length() -> None:
    reference = pd.Series(["short note"] * 100 + ["a somewhat longer note here"] * 100)
    live = pd.Series(["x" * 300] * 60)
    result = feature_drift("comment", "text", reference, live, T)
    assert result.test == "ks" and result.drifted is True
