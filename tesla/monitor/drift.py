"""Per-feature drift between reference (training) data and live traffic, chosen by sample size.

Small live samples get a significance test: two-sample Kolmogorov–Smirnov for numbers,
chi-squared homogeneity for categories. From ``large_sample_rows`` live rows on, p-values
are useless — a million rows make a negligible difference "significant" — so the verdict
comes from effect sizes with fixed thresholds instead: the population stability index (PSI)
on reference-quantile bins plus the Wasserstein distance in units of the reference standard
deviation for numbers, the Jensen–Shannon distance for categories. This is Evidently's
default test selection, with PSI added because credit-risk teams read it.

Every function here takes plain arrays; ``feature_drift`` turns one column of each side
into the right arrays for its signature type and picks the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tesla.monitor.results import DriftThresholds, FeatureDrift, Histogram

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DriftThresholds",
    "FeatureDrift",
    "Histogram",
    "categorical_drift",
    "chi2_test",
    "feature_drift",
    "jensen_shannon",
    "ks_test",
    "normalized_wasserstein",
    "numeric_drift",
    "psi",
]

PSI_BINS = 10  # reference-quantile bins of the PSI (the usual decile table)
PSI_FLOOR = 1e-4  # share given to an empty bin so that log(0) never happens
HIST_BINS = 20  # bars of the numeric histograms in the report
TOP_CATEGORIES = 20  # categories drawn in the report; the rest are summed as "(other)"
DISCRETE_MAX = 5  # a numeric column with at most this many reference values is tested as categories
MISSING = "(missing)"


def ks_test(reference: np.ndarray, live: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov (statistic D, p-value)."""
    from scipy import stats  # lazy: scipy.stats costs ~0.3 s

    res = stats.ks_2samp(reference, live)
    return float(res.statistic), float(res.pvalue)


def chi2_test(reference_counts: np.ndarray, live_counts: np.ndarray) -> tuple[float, float]:
    """Chi-squared test that both samples share one category distribution (statistic, p-value)."""
    from scipy import stats

    table = np.vstack([reference_counts, live_counts]).astype("float64")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0  # one category on both sides: nothing can differ
    res = stats.chi2_contingency(table)
    return float(res.statistic), float(res.pvalue)


def psi(reference: np.ndarray, live: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index on ``bins`` quantile bins of the reference."""
    inner = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(inner)  # discrete columns repeat quantiles
    ref_share = _shares(np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1))
    live_share = _shares(np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(edges) + 1))
    return float(np.sum((live_share - ref_share) * np.log(live_share / ref_share)))


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / max(counts.sum(), 1)
    return np.clip(shares, PSI_FLOOR, None)


def normalized_wasserstein(reference: np.ndarray, live: np.ndarray) -> float:
    """Earth mover's distance between the samples in units of the reference standard deviation."""
    from scipy import stats

    scale = float(np.std(reference))
    # a constant reference column has no natural unit; fall back to the raw distance
    return float(stats.wasserstein_distance(reference, live)) / (scale if scale > 0 else 1.0)


def jensen_shannon(reference_counts: np.ndarray, live_counts: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two category count vectors."""
    from scipy.spatial import distance

    if reference_counts.sum() == 0 or live_counts.sum() == 0:
        return 0.0
    return float(distance.jensenshannon(reference_counts, live_counts, base=2))


# -- verdicts ---------------------------------------------------------------------------------
def numeric_drift(name: str, reference: np.ndarray, live: np.ndarray, thresholds: DriftThresholds,
                  *, feature_type: str = "numeric") -> FeatureDrift:
    """Drift of a numeric feature; NaN values are left out of the tests and counted as missing."""
    reference, live = np.asarray(reference, dtype="float64"), np.asarray(live, dtype="float64")
    ref, cur = reference[~np.isnan(reference)], live[~np.isnan(live)]
    base = dict(name=name, feature_type=feature_type, reference_rows=len(ref), live_rows=len(cur),
                missing_reference=_nan_share(reference), missing_live=_nan_share(live))
    if len(cur) < thresholds.min_rows or len(ref) < 2:
        return FeatureDrift(test="none", drifted=None, histogram=_numeric_histogram(ref, cur),
                            detail=f"{len(cur)} live values; a verdict needs {thresholds.min_rows}", **base)
    if len(cur) < thresholds.large_sample_rows:
        stat, p = ks_test(ref, cur)
        drifted = p < thresholds.pvalue
        detail = f"KS D={stat:.3f}, p={p:.2g} ({'<' if drifted else '>='} {thresholds.pvalue:.2g})"
        return FeatureDrift(test="ks", drifted=drifted, detail=detail, p_value=p, statistic=stat,
                            histogram=_numeric_histogram(ref, cur), **base)
    index, distance = psi(ref, cur), normalized_wasserstein(ref, cur)
    drifted = index > thresholds.psi or distance > thresholds.wasserstein
    detail = (f"PSI {index:.3f} (limit {thresholds.psi:g}), Wasserstein {distance:.3f} std "
              f"(limit {thresholds.wasserstein:g})")
    return FeatureDrift(test="psi+wasserstein", drifted=drifted, detail=detail, psi=index, wasserstein=distance,
                        histogram=_numeric_histogram(ref, cur), **base)


def categorical_drift(name: str, reference: Sequence[Any] | np.ndarray, live: Sequence[Any] | np.ndarray,
                      thresholds: DriftThresholds, *, feature_type: str = "categorical") -> FeatureDrift:
    """Drift of a categorical feature; missing values form their own category."""
    labels, ref_counts, live_counts = _category_counts(reference, live)
    n_ref, n_live = int(ref_counts.sum()), int(live_counts.sum())
    missing = labels.index(MISSING) if MISSING in labels else None
    base = dict(name=name, feature_type=feature_type, reference_rows=n_ref, live_rows=n_live,
                missing_reference=float(ref_counts[missing] / max(n_ref, 1)) if missing is not None else 0.0,
                missing_live=float(live_counts[missing] / max(n_live, 1)) if missing is not None else 0.0,
                histogram=_category_histogram(labels, ref_counts, live_counts))
    if n_live < thresholds.min_rows or n_ref == 0:
        return FeatureDrift(test="none", drifted=None,
                            detail=f"{n_live} live values; a verdict needs {thresholds.min_rows}", **base)
    if n_live < thresholds.large_sample_rows:
        stat, p = chi2_test(ref_counts, live_counts)
        drifted = p < thresholds.pvalue
        detail = f"chi-squared {stat:.1f}, p={p:.2g} ({'<' if drifted else '>='} {thresholds.pvalue:.2g})"
        return FeatureDrift(test="chi2", drifted=drifted, detail=detail, p_value=p, statistic=stat, **base)
    distance = jensen_shannon(ref_counts, live_counts)
    drifted = distance > thresholds.js
    detail = f"Jensen-Shannon {distance:.3f} (limit {thresholds.js:g})"
    return FeatureDrift(test="js", drifted=drifted, detail=detail, js=distance, **base)


def feature_drift(name: str, feature_type: str, reference: pd.Series, live: pd.Series,
                  thresholds: DriftThresholds) -> FeatureDrift:
    """Convert one column of each side for its signature type and run the fitting test.

    Datetimes are compared as timestamps, text as its length; a numeric column with at
    most ``DISCRETE_MAX`` distinct reference values (a flag, a rating) is tested as categories.
    """
    if feature_type in {"categorical", "boolean"}:
        convert = _as_bool_text if feature_type == "boolean" else _as_category_text
        return categorical_drift(name, convert(reference), convert(live), thresholds, feature_type=feature_type)
    ref, cur = (_as_numbers(s, feature_type) for s in (reference, live))
    if feature_type == "numeric" and len(np.unique(ref[~np.isnan(ref)])) <= DISCRETE_MAX:
        return categorical_drift(name, _as_category_text(reference), _as_category_text(live), thresholds,
                                 feature_type=feature_type)
    return numeric_drift(name, ref, cur, thresholds, feature_type=feature_type)


# -- conversions ------------------------------------------------------------------------------
_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}


def _as_numbers(series: pd.Series, feature_type: str) -> np.ndarray:
    import pandas as pd

    if feature_type == "datetime":
        parsed = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
        seconds = (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
        return seconds.to_numpy(dtype="float64", na_value=np.nan)
    if feature_type == "text":
        return series.astype("string").str.len().to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _category_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 3.0 from JSON and 3 from a CSV are the same category
    return str(value)


def _as_category_text(series: pd.Series) -> np.ndarray:
    import pandas as pd

    values = series.astype(object).where(pd.notna(series), None)
    return np.array([_category_text(v) for v in values], dtype=object)


def _as_bool_text(series: pd.Series) -> np.ndarray:
    text = _as_category_text(series)
    lowered = np.char.lower(text.astype(str))
    return np.where(np.isin(lowered, list(_TRUE)), "true", np.where(np.isin(lowered, list(_FALSE)), "false", text))


def _nan_share(values: np.ndarray) -> float:
    return float(np.isnan(values).mean()) if len(values) else 0.0


def _category_counts(reference: Sequence[Any] | np.ndarray,
                     live: Sequence[Any] | np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    import pandas as pd  # value_counts hashes: much faster than np.unique's sort on a million strings

    ref = pd.Series(np.asarray(reference, dtype=object)).fillna(MISSING).astype(str).value_counts()
    cur = pd.Series(np.asarray(live, dtype=object)).fillna(MISSING).astype(str).value_counts()
    labels = sorted(set(ref.index) | set(cur.index), key=lambda c: (-int(ref.get(c, 0)), c))
    return (labels, np.array([int(ref.get(c, 0)) for c in labels], dtype="int64"),
            np.array([int(cur.get(c, 0)) for c in labels], dtype="int64"))


# -- report data ------------------------------------------------------------------------------
def _numeric_histogram(ref: np.ndarray, live: np.ndarray) -> Histogram | None:
    both = [a for a in (ref, live) if len(a)]
    if not both:
        return None
    # the 0.5-99.5 % range keeps one outlier from squeezing every other bar into one bin
    lo = min(float(np.quantile(a, 0.005)) for a in both)
    hi = max(float(np.quantile(a, 0.995)) for a in both)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    shares = [np.histogram(np.clip(a, lo, hi), bins=edges)[0] / max(len(a), 1) if len(a) else np.zeros(HIST_BINS)
              for a in (ref, live)]
    labels = [f"{a:.3g}..{b:.3g}" for a, b in zip(edges[:-1], edges[1:])]
    return Histogram(labels, shares[0].tolist(), shares[1].tolist(), edges.tolist())


def _category_histogram(labels: list[str], ref_counts: np.ndarray, live_counts: np.ndarray) -> Histogram:
    ref, cur = ref_counts / max(ref_counts.sum(), 1), live_counts / max(live_counts.sum(), 1)
    order = np.argsort(-(ref + cur), kind="stable")
    top, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    names = [labels[i] for i in top]
    ref_top, cur_top = ref[top].tolist(), cur[top].tolist()
    if len(rest):
        names.append("(other)")
        ref_top.append(float(ref[rest].sum()))
        cur_top.append(float(cur[rest].sum()))
    return Histogram(names, ref_top, cur_top)
