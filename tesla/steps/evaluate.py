"""The ``evaluate`` step: score a bundle on held-out rows; write metrics JSON and an HTML report."""

from __future__ import annotations

import json
from typing import Any

from tesla.automl.budget import Budget
from tesla.data import read_table
from tesla.evaluation.evaluate import evaluate_bundle
from tesla.models import load_bundle
from tesla.steps import StepContext

__all__ = ["evaluate"]


def evaluate(ctx: StepContext) -> dict[str, Any]:
    p = ctx.params
    # in a training run with search.time_budget_s the permutation importance gets what the budget has left
    budget = Budget.start(p["time_budget_s"]) if p.get("time_budget_s") is not None else None
    bundle = load_bundle(ctx.input_dir("model"))
    df = read_table(ctx.input_file("test"), p.get("format", "parquet"))
    title = p.get("title", "Evaluation")
    result = evaluate_bundle(bundle, df, metrics=p["metrics"], title=title, source=p.get("source", "held-out split"),
                             model=title.removeprefix("Evaluation of "),  # the compiler titles it with the model
                             threshold=p.get("threshold"), slices=p.get("slices", ()),
                             importance=p.get("importance", True),
                             importance_s=max(0.0, budget.left_s() - budget.post_s()) if budget else None)
    ctx.output("metrics").write_text(json.dumps(result.to_dict(), sort_keys=True, indent=2))
    ctx.output("report").write_text(result.report_html)
    return result.to_dict()
