"""Training steps: ``search`` runs the AutoML search and writes a bundle; ``register`` stamps lineage."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tesla.automl.adapter import SearchResult, choose_eval_method, default_estimators, estimator_framework, refit
from tesla.automl.adapter import search as automl_search
from tesla.automl.budget import Budget
from tesla.models import Preprocessor, read_manifest, save_bundle, write_manifest
from tesla.steps import StepContext

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["candidate_estimators", "encode_target", "register", "search"]


def _plain(value: Any) -> Any:
    """Round-trip through JSON so numpy scalars in configs become plain numbers."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def candidate_estimators(params: Mapping[str, Any]) -> list[str]:
    """The estimators a ``search`` step with ``params`` may pick for any task: its list, or the framework's defaults.

    Backends use it to check that their image holds every package a fitted model may need.
    """
    if params.get("estimators"):
        return list(params["estimators"])
    framework = params.get("framework", "scikit-learn")
    found = default_estimators(framework, "binary") + default_estimators(framework, "regression")
    return list(dict.fromkeys(found))


def encode_target(y: pd.Series, task: str) -> tuple[Any, list[Any] | None, dict[str, Any]]:
    """Labels -> (encoded y, classes, baseline stats). Classes sort by their text."""
    import numpy as np

    if task == "regression":
        values = y.astype("float64").to_numpy()
        return values, None, {"mean": float(values.mean())}
    classes = sorted(_plain(y.drop_duplicates().tolist()), key=str)
    index = {str(c): i for i, c in enumerate(classes)}
    codes = np.array([index[str(v)] for v in _plain(y.tolist())])
    prior = np.bincount(codes, minlength=len(classes)) / len(codes)
    return codes, classes, {"class_prior": prior.tolist()}


def search(ctx: StepContext) -> dict[str, Any]:
    """Fit the preprocessing, search the estimators with FLAML, save the winner as a bundle.

    With ``refit`` (and the split's ``test`` rows as an input) a second bundle, ``final``, holds the
    same winner fitted on every row: the training rows and the held-out ones. ``model`` (fitted on the
    training rows only) is what ``evaluate`` scores, so the registered metrics are the held-out
    estimate of the final model's configuration; its manifest says so.
    """
    import time

    import pandas as pd

    p = ctx.params
    # first thing: the budget counts from here (and the process's start-up before it)
    budget = Budget.start(p["time_budget_s"]) if p["time_budget_s"] is not None else None
    meta = json.loads(ctx.input_file("schema").read_text())
    df = pd.read_parquet(ctx.input_file("train"))
    task, target, features = meta["task"], meta["target"], meta["features"]
    onehot: dict[str, Any] = {"onehot_max": p["onehot_max_levels"]} if p.get("onehot_max_levels") is not None else {}
    if p.get("categoricals", "onehot") == "native":
        onehot["native"] = True
    pre = Preprocessor.fit(df[features], meta["schema"], **onehot)
    X = pre.transform(df[features], unseen="unknown")
    y, classes, baseline = encode_target(df[target], task)
    estimators = list(p["estimators"]) or default_estimators(p["framework"], task)
    result = automl_search(
        X, y, task=task, estimators=estimators, metric=p["metric"], max_iter=p["max_iter"],
        time_budget_s=budget.search_s(ensemble=p["ensemble"], elastic=p.get("n_concurrent_trials", 1) <= 1)
        if budget else None,
        # cv or holdout for the user's budget and the raw table (FLAML's rule, before encoding widens it)
        eval_method=choose_eval_method(p["eval_method"], len(df), len(features), p["time_budget_s"]),
        n_splits=p["n_splits"],
        ensemble=p["ensemble"], seed=p["seed"], n_jobs=p["n_jobs"], workdir=ctx.outdir,
        search_space=p.get("search_space") or None, starting_points=p.get("starting_points") or None,
        learner_selector=p.get("learner_selector", "auto"), raw_columns=len(features),
        max_predict_ms_per_row=p.get("max_predict_ms_per_row"), progress=ctx.progress,
        allows=budget.allows if budget else None, hold_s=budget.hold_s if budget else None,
        n_concurrent_trials=p.get("n_concurrent_trials", 1), categorical_columns=pre.native_columns)
    best_config = _plain(result.best_config)
    # an ensemble is scikit-learn-family only (the adapter refuses neural members)
    name = f"ensemble({'+'.join(result.ensemble)})" if result.ensemble else result.best_estimator
    framework = "scikit-learn" if result.ensemble else estimator_framework(result.best_estimator)
    extra = {"baseline": baseline, "best_config": best_config, "best_loss": result.best_loss,
             "search_metric": result.metric, "training_rows": len(df), "seed": p["seed"],
             "ensemble": result.ensemble}
    save_bundle(ctx.output("model"), estimator=result.model, framework=framework, preprocessor=pre, task=task,
                classes=classes, estimator_name=name, target=target, extra=extra)
    refitted, started = None, time.perf_counter()
    if p.get("refit") and "test" in ctx.inputs:
        bundle = dict(estimator_name=name, framework=framework, task=task, target=target)
        refitted = _write_final(ctx, result, df, meta, budget, bundle, extra, onehot)
        refitted["refit_s"] = round(time.perf_counter() - started, 3)
    ctx.output("trials").write_text(json.dumps(_plain(_with_costs(result.trials, result.predict_ms_per_row)), indent=1))
    return {"best_estimator": result.best_estimator, "best_loss": result.best_loss,
            "best_config": best_config, "metric": result.metric, "trials": len(result.trials),
            "leaderboard": result.best_loss_per_estimator, "search_s": round(result.wall_s, 3),
            "best_config_per_estimator": _plain(result.best_config_per_estimator),
            "eval_method": result.eval_method, "ensemble": result.ensemble,
            **({"ensemble_weights": result.ensemble_weights} if result.ensemble else {}),
            "predict_ms_per_row": result.predict_ms_per_row,
            **({"ensemble_note": result.ensemble_note} if result.ensemble_note else {}),
            **({"refit": refitted} if refitted is not None else {}),
            **({"budget": {"flaml_s": round(result.flaml_s or 0.0, 3),
                        "flaml_most_s": round(result.settings["time_budget"], 3), "left_s": round(budget.left_s(), 3)}}
               if budget else {})}


REFIT_MARGIN = 1.3  # a refit on more rows takes longer than the fit it is sized from


def _write_final(ctx: StepContext, result: SearchResult, train: pd.DataFrame, meta: Mapping[str, Any],
                 budget: Budget | None, bundle: Mapping[str, Any], extra: Mapping[str, Any],
                 onehot: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``final``: the winner refit on the training and held-out rows, or ``model`` as it is when the
    budget has no room for the refit. Returns what the manifest's ``refit`` entry says."""
    import pandas as pd

    test = pd.read_parquet(ctx.input_file("test"))
    every = pd.concat([train, test], ignore_index=True)
    features, target = meta["features"], meta["target"]
    members = max(1, len(result.ensemble))
    estimate = result.fit_s * members * REFIT_MARGIN * len(every) / max(1, len(train))
    meaning = (f"metrics: measured on {len(test)} held-out rows by this configuration (chosen by "
               f"{result.eval_method} on the training rows) fitted on the {len(train)} training rows")
    if budget is not None and not budget.allows(estimate):
        shutil.copytree(ctx.output("model"), ctx.output("final"))
        note = {"done": False, "rows": len(train), "metrics": meaning + "; this model is that one",
                "reason": f"search.time_budget_s: a refit on {len(every)} rows (~{estimate:.1f} s) would end "
                          f"past the budget ({budget.left_s():.1f} s left)"}
    else:
        pre = Preprocessor.fit(every[features], meta["schema"], **onehot)
        X = pre.transform(every[features], unseen="unknown")
        y, classes, baseline = encode_target(every[target], meta["task"])
        model = refit(result, X, y)
        note = {"done": True, "rows": len(every),
                "metrics": meaning + f"; this model is the same configuration refit on all {len(every)} rows"}
        save_bundle(ctx.output("final"), estimator=model, preprocessor=pre, classes=classes,
                    **bundle, extra={**extra, "baseline": baseline, "training_rows": len(every)})
    manifest = read_manifest(ctx.output("final"))
    write_manifest(ctx.output("final"), {**manifest, "refit": note})
    return note


def _with_costs(trials: list[dict[str, Any]], costs: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each estimator's best trial carries its model's measured ``predict_ms_per_row``."""
    best: dict[str, dict[str, Any]] = {}
    for trial in trials:
        loss, held = trial.get("loss"), best.get(trial["estimator"])
        if loss is not None and (held is None or loss < held["loss"]):
            best[trial["estimator"]] = trial
    return [{**t, "predict_ms_per_row": costs[t["estimator"]]} if best.get(t["estimator"]) is t
            and t["estimator"] in costs else t for t in trials]


def register(ctx: StepContext) -> dict[str, Any]:
    """Copy the bundle and stamp evaluation metrics and lineage into its manifest."""
    p = ctx.params
    out = ctx.output("bundle")
    shutil.copytree(ctx.input_dir("model"), out)
    manifest = read_manifest(out)
    evaluation = json.loads(ctx.input_file("metrics").read_text())
    manifest.update(metrics=evaluation["metrics"], baseline_metrics=evaluation["baseline"],
                    lineage={k: p[k] for k in ("model", "dataset", "dataset_version", "dataset_sha256",
                                               "training_fingerprint")})
    if evaluation.get("decision"):  # the binary threshold evaluate chose: Bundle.decide applies it when serving
        manifest["decision"] = evaluation["decision"]
    write_manifest(out, manifest)
    return {"framework": manifest["framework"], "task": manifest["task"],
            "estimator": manifest["estimator"], "metrics": evaluation["metrics"]}
