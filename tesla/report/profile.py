"""A dataset profile: per-column distributions, missing values, associations, the target, duplicates, warnings.

Written here rather than with ydata-profiling or skrub's TableReport: see ``benchmarks/profile/README.md``
(install size, time on a 100 k-row table, what each shows). Every statistic is on all rows except the
pairwise associations, which use a seeded sample of ``ASSOCIATION_ROWS`` rows.
"""

from __future__ import annotations

import html as html_lib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tesla.report.html import page, records_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnProfile", "DataProfile", "profile_frame"]

ASSOCIATION_ROWS = 20_000  # pairwise associations on a sample this big: 435 crosstabs of 100 k rows cost seconds
HIGH_CARDINALITY = 50  # a categorical column with more distinct values is left out of the associations
LEAKAGE = 0.95  # a feature this associated with the target is a leakage suspect
MAX_COLUMNS_MATRIX = 40  # the association matrix shows at most this many columns


@dataclass
class ColumnProfile:
    """One column: kind, missing values, distinct values, summary statistics and its link to the target."""

    name: str
    kind: str  # numeric | categorical | boolean | datetime | text
    missing: int
    distinct: int
    stats: dict[str, float] = field(default_factory=dict)  # numeric: mean std min p25 p50 p75 max
    top: list[tuple[str, int]] = field(default_factory=list)  # categorical: the most frequent values
    histogram: list[tuple[str, int]] = field(default_factory=list)  # (bin label, rows)
    target_association: float | None = None  # 0..1 (Cramér's V, correlation ratio or |Pearson r|)


@dataclass
class DataProfile:
    """The profile of one table (``tesla data profile NAME[@V]``)."""

    name: str
    rows: int
    columns: list[ColumnProfile]
    duplicates: int
    target: str | None
    target_balance: dict[str, int]  # classification: rows per class; regression: empty
    associations: list[dict[str, Any]]  # strongest feature pairs: a, b, association, measure
    matrix: dict[str, dict[str, float]]  # column -> column -> association (0..1)
    warnings: list[str]
    report_html: str = ""
    report_path: str = ""

    def _repr_html_(self) -> str:
        return self.report_html or render_profile(self)


def _cramers_v(a: pd.Series, b: pd.Series) -> float:
    import numpy as np
    import pandas as pd

    table = pd.crosstab(a, b).to_numpy(dtype="float64")
    if table.shape[0] < 2 or table.shape[1] < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / n / (min(table.shape) - 1)))


def _correlation_ratio(categories: pd.Series, values: pd.Series) -> float:
    """eta: the share of the numeric column's spread its category means explain (square-rooted), 0..1."""
    import numpy as np

    frame = values.groupby(categories, observed=True).agg(["mean", "count"])
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = float((frame["count"] * (frame["mean"] - values.mean()) ** 2).sum())
    return float(np.sqrt(between / total))


def _association(a: pd.Series, b: pd.Series, kind_a: str, kind_b: str) -> float:
    """0..1: |Pearson r| (numeric-numeric), correlation ratio (mixed), Cramér's V (categorical-categorical)."""
    both = a.notna() & b.notna()
    a, b = a[both], b[both]
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    numeric_a, numeric_b = kind_a == "numeric", kind_b == "numeric"
    if numeric_a and numeric_b:
        r = a.astype("float64").corr(b.astype("float64"))
        return abs(float(r)) if r == r else float("nan")
    if numeric_a != numeric_b:
        cats, nums = (b, a) if numeric_a else (a, b)
        return _correlation_ratio(cats.astype(str), nums.astype("float64"))
    return _cramers_v(a.astype(str), b.astype(str))


def _column(name: str, col: pd.Series, kind: str) -> ColumnProfile:
    import numpy as np

    prof = ColumnProfile(name=name, kind=kind, missing=int(col.isna().sum()), distinct=int(col.nunique()))
    present = col.dropna()
    if kind == "numeric" and len(present):
        values = present.astype("float64")
        q = values.quantile([0.25, 0.5, 0.75]).tolist()
        prof.stats = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
                      "p25": q[0], "p50": q[1], "p75": q[2], "max": float(values.max())}
        counts, edges = np.histogram(values, bins=min(20, max(prof.distinct, 1)))
        prof.histogram = [(f"{edges[i]:.3g}", int(c)) for i, c in enumerate(counts)]
    else:
        counts = present.astype(str).value_counts()
        prof.top = [(str(k), int(v)) for k, v in counts.head(5).items()]
        prof.histogram = [(str(k), int(v)) for k, v in counts.head(20).items()]
    return prof


def profile_frame(df: pd.DataFrame, *, name: str = "", target: str | None = None, seed: int = 0,
                  kinds: Mapping[str, str] | None = None) -> DataProfile:
    """Profile ``df``; ``target`` (when set and present) gets its balance and each feature's link to it.

    ``kinds``: column -> type as ``tesla load`` recorded it (numeric, categorical, boolean, datetime, text);
    a column it does not name is inferred the way ``tesla load`` infers it.
    """
    from tesla.data.schema import infer_schema

    known = {"numeric", "categorical", "boolean", "datetime", "text"}
    given = {str(c): k for c, k in (kinds or {}).items() if k in known}
    inferred = {} if all(str(c) in given for c in df.columns) else infer_schema(df)
    kinds_of = {str(c): given.get(str(c)) or inferred[c]["type"] for c in df.columns}
    columns = {str(c): _column(str(c), df[c], kinds_of[str(c)]) for c in df.columns}
    target = target if target in columns else None
    sample = df.sample(ASSOCIATION_ROWS, random_state=seed) if len(df) > ASSOCIATION_ROWS else df
    kinds = {c: p.kind for c, p in columns.items()}
    # Cramér's V of a near-unique column is ~1 whatever it holds: ids and free text are left out
    usable = [c for c, p in columns.items() if p.kind not in ("datetime", "text") and 1 < p.distinct
              and not (p.kind == "categorical" and (p.distinct > HIGH_CARDINALITY or _id_like(p, len(df))))
              ][:MAX_COLUMNS_MATRIX]
    matrix: dict[str, dict[str, float]] = {c: {} for c in usable}
    for i, a in enumerate(usable):
        matrix[a][a] = 1.0
        for b in usable[i + 1:]:
            matrix[a][b] = matrix[b][a] = _association(sample[a], sample[b], kinds[a], kinds[b])
    balance: dict[str, int] = {}
    if target:
        task_is_class = kinds[target] != "numeric" or columns[target].distinct <= 20
        if task_is_class:
            balance = {str(k): int(v) for k, v in df[target].astype(str).value_counts().items()}
        target_kind = "categorical" if task_is_class else "numeric"
        for c, prof in columns.items():
            if c != target and c in usable:
                prof.target_association = _association(sample[c], sample[target], prof.kind, target_kind)
    pairs = sorted(({"a": a, "b": b, "association": v} for a in usable for b, v in matrix[a].items()
                    if a < b and v == v and a != target and b != target), key=lambda r: -r["association"])
    duplicates = int(df.duplicated().sum())
    prof = DataProfile(name=name, rows=len(df), columns=list(columns.values()), duplicates=duplicates, target=target,
                       target_balance=balance, associations=pairs[:15], matrix=matrix, warnings=[])
    prof.warnings = _warnings(prof)
    prof.report_html = render_profile(prof)
    return prof


def _id_like(c: ColumnProfile, rows: int) -> bool:
    """A text or categorical column whose values are mostly unique (an id, a free-text field)."""
    return c.kind in ("categorical", "text") and c.distinct > 20 and c.distinct > 0.5 * (rows - c.missing)


def _warnings(p: DataProfile) -> list[str]:
    out = []
    for c in p.columns:
        if c.distinct <= 1:
            out.append(f"{c.name} is constant ({c.distinct} distinct value): drop it (data.exclude)")
        elif _id_like(c, p.rows):
            out.append(f"{c.name} has high cardinality ({c.distinct} distinct in {p.rows} rows): an id? "
                       "exclude it or derive a feature")
        if p.rows and c.missing / p.rows > 0.5:
            out.append(f"{c.name} is missing in {c.missing / p.rows:.0%} of the rows")
        if c.target_association is not None and c.target_association >= LEAKAGE:
            out.append(f"{c.name} is a leakage suspect: its association with the target {p.target} is "
                       f"{c.target_association:.3f}; check it is known at prediction time")
    if p.duplicates:
        out.append(f"{p.duplicates} duplicate rows ({p.duplicates / p.rows:.1%})")
    if p.target_balance and len(p.target_balance) > 1:
        minority = min(p.target_balance.values()) / p.rows
        if minority < 0.05:
            out.append(f"target {p.target} is imbalanced: the rarest class is {minority:.1%} of the rows; "
                       "consider evaluation.threshold.objective=f1")
    return out


def _bars(hist: Sequence[tuple[str, int]], width: int = 300, height: int = 90) -> str:
    """A small inline SVG bar chart (one bar per bin, tooltip with its label and count)."""
    if not hist:
        return ""
    top = max(v for _, v in hist) or 1
    step = width / len(hist)
    bars = "".join(f"<rect x='{i * step:.1f}' y='{height - v / top * height:.1f}' width='{max(step - 1, 1):.1f}' "
                   f"height='{v / top * height:.1f}' fill='#2864c8'><title>{html_lib.escape(k)}: {v}</title></rect>"
                   for i, (k, v) in enumerate(hist))
    return f"<svg width='{width}' height='{height}' role='img'>{bars}</svg>"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.4g}" if isinstance(v, float) else html_lib.escape(str(v))


def _matrix_html(matrix: Mapping[str, Mapping[str, float]]) -> str:
    names = list(matrix)
    head = "<tr><th></th>" + "".join(f"<th>{html_lib.escape(n)}</th>" for n in names) + "</tr>"
    body = "".join(f"<tr><th>{html_lib.escape(a)}</th>" + "".join(
        f"<td style='background:rgba(40,100,200,{0.05 + 0.8 * (v if v == v else 0):.2f})'>{_fmt(v)}</td>"
        for v in (matrix[a].get(b, float('nan')) for b in names)) + "</tr>" for a in names)
    return f"<table style='font-size:.75rem'>{head}{body}</table>"


def render_profile(p: DataProfile) -> str:
    """The profile as one self-contained HTML page."""
    sections = []
    if p.warnings:
        sections.append(("Warnings", "<ul class='warn'>" + "".join(f"<li>{html_lib.escape(w)}</li>"
                                                                  for w in p.warnings) + "</ul>"))
    rows = [{"column": c.name, "kind": c.kind, "missing": c.missing, "distinct": c.distinct,
             "target association": c.target_association, **{k: c.stats.get(k) for k in ("mean", "std", "min", "max")},
             "top values": ", ".join(f"{k} ({v})" for k, v in c.top[:3])} for c in p.columns]
    sections.append(("Columns", records_table(rows, ["column", "kind", "missing", "distinct", "target association",
                                                     "mean", "std", "min", "max", "top values"])))
    if p.target_balance:
        balance = [{"class": k, "rows": v, "share": v / p.rows} for k, v in p.target_balance.items()]
        sections.append((f"Target balance ({p.target})", records_table(balance, ["class", "rows", "share"])))
    sections.append(("Distributions", "".join(
        f"<div style='display:inline-block;margin:.5rem'><b>{html_lib.escape(c.name)}</b> "
        f"<span class='muted'>{c.kind}</span><br>{_bars(c.histogram)}</div>" for c in p.columns)))
    if p.associations:
        sections.append(("Strongest associations between features",
                         records_table(p.associations, ["a", "b", "association"])))
    if p.matrix:
        sections.append(("Associations (|Pearson r|, correlation ratio, Cramér's V)", _matrix_html(p.matrix)))
    facts = {"dataset": p.name, "rows": p.rows, "columns": len(p.columns), "duplicate rows": p.duplicates,
             "target": p.target or "", "associations on": f"{min(p.rows, ASSOCIATION_ROWS)} rows (seeded sample)"}
    return page(f"Profile of {p.name}", sections, facts)
