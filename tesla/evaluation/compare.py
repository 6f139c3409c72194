"""Two models on the same labelled rows: metric deltas (b - a) with paired bootstrap confidence intervals."""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tesla.errors import DataError
from tesla.evaluation.decisions import Delta, paired_bootstrap
from tesla.evaluation.evaluate import labelled_rows, score_rows
from tesla.evaluation.metrics import DEFAULT_METRICS, compute_metrics, higher_is_better
from tesla.report import html

if TYPE_CHECKING:
    import pandas as pd

    from tesla.models import Bundle

__all__ = ["compare_bundles", "comparison_html"]


def compare_bundles(a: Bundle, b: Bundle, df: pd.DataFrame, *, metrics: Sequence[str] = (), samples: int = 500,
                    seed: int = 0, names: tuple[str, str] = ("a", "b")) -> tuple[int, list[Delta]]:
    """(rows, one Delta per metric): each model decides with its own stored threshold, on the same rows.

    Raises:
        DataError: the models predict different targets, tasks or classes.
    """
    for what, left, right in (("target", a.manifest["target"], b.manifest["target"]), ("task", a.task, b.task),
                              ("classes", a.classes, b.classes)):
        if left != right:
            raise DataError(f"{names[0]} and {names[1]} cannot be compared on the same rows: their {what} differs "
                            f"({left!r} vs {right!r})", key=what)
    df = labelled_rows(a, df)
    sa, sb = score_rows(a, df), score_rows(b, df)
    chosen = list(metrics) or DEFAULT_METRICS[a.task]
    n_classes = len(a.classes or [])

    def score(index: np.ndarray, metric: str) -> tuple[float, float]:
        return tuple(compute_metrics(a.task, [metric], s.y[index], s.pred[index],  # type: ignore[return-value]
                                     None if s.proba is None else s.proba[index], n_classes)[metric]
                     for s in (sa, sb))

    return len(df), paired_bootstrap(score, chosen, len(df), higher=higher_is_better, samples=samples, seed=seed)


def comparison_html(deltas: Sequence[Delta], names: tuple[str, str], rows: int, samples: int) -> str:
    """A table of the deltas, with a sentence on how to read it."""
    a, b = (html_lib.escape(n) for n in names)
    note = (f"<p>Delta is {b} minus {a} on the same {rows} rows; the interval is the 2.5-97.5 percentile of "
            f"{samples} paired bootstrap resamples. An interval holding 0 is no clear difference.</p>")
    table = {d.metric: {names[0]: d.a, names[1]: d.b, "delta": d.delta, "95% low": d.low, "95% high": d.high,
                        "verdict": d.verdict_for(names)}
             for d in deltas}
    return note + html.metrics_table(table, [names[0], names[1], "delta", "95% low", "95% high", "verdict"])
