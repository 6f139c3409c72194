"""Replay: refit a registered model's winning config on its recorded data and compare the score.

The replay plan is derived from the recorded training plan: the same ``load`` and ``split``
steps (same dataset version, same split), a ``search`` step narrowed to the winner (or the
stacked learners) warm-started at the recorded configs with one trial each, and the same
``evaluate`` step. With one trial FLAML evaluates nothing and refits the starting config on
the training rows through exactly the path the original search's final refit took; a stack
re-scores each member once (same losses, so the same members in the same order) and is
rebuilt the same way. The held-out metrics must then match the recorded ones.

Pure: no I/O, no heavy imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tesla.errors import PlanError
from tesla.plan import Plan, Step

__all__ = ["REL_TOL", "compare_scores", "replay_plan"]

REL_TOL = 1e-9  # relative tolerance of a replayed metric (the same fit gives the same numbers)
ABS_TOL = 1e-12


def _search_params(recorded: Step, search: Mapping[str, Any], model_ref: str) -> dict[str, Any]:
    members = list(search.get("ensemble") or [])
    if members:
        configs = search.get("best_config_per_estimator") or {}
        missing = [m for m in members if m not in configs]
        if missing:
            raise PlanError(f"cannot replay {model_ref}: its run did not record the stacked learners' configs "
                            f"({', '.join(missing)}); retrain it with this Tesla version first", step="search")
        starts = {m: configs[m] for m in members}
    else:
        members, starts = [search["best_estimator"]], {search["best_estimator"]: search["best_config"]}
    params = dict(recorded.params)
    # round-robin: each member gets exactly its one trial, whatever the original selector was
    params.update(estimators=members, starting_points=starts, max_iter=len(members), time_budget_s=None,
                  eval_method=search.get("eval_method") or params["eval_method"], learner_selector="roundrobin")
    return params


def replay_plan(recorded: Plan, search: Mapping[str, Any], *, model_ref: str, run_id: str) -> Plan:
    """The plan that refits ``recorded``'s winner and evaluates it on the recorded held-out rows.

    Args:
        recorded: the training plan the model was registered from.
        search: the recorded ``search`` step result (winner, configs, stacked learners, eval method).
        model_ref: ``NAME@VERSION``, for names and messages.
        run_id: the recorded run, noted in the plan's meta.

    Raises:
        PlanError: the plan is not a training plan, or a stack's member configs were not recorded.
    """
    kinds = {s.kind for s in recorded.steps}
    if not {"search", "evaluate"} <= kinds:
        raise PlanError(f"cannot replay {model_ref}: run {run_id} is not a training run ({recorded.name})")
    steps: dict[str, Step] = {}
    for step in recorded.ordered():
        if step.kind == "register":
            continue  # a replay checks; it registers nothing
        params = _search_params(step, search, model_ref) if step.kind == "search" else step.params
        steps[step.id] = Step.create(step.id, step.kind, params, inputs=step.inputs, outputs=step.outputs,
                                     upstream=steps, placement=step.placement)
    return Plan(name=f"replay/{model_ref.split('@')[0]}", steps=tuple(steps.values()), backend=recorded.backend,
                meta={"model": model_ref, "replay_of": run_id})


def compare_scores(recorded: Mapping[str, float], replayed: Mapping[str, float]) -> list[tuple[str, float, float]]:
    """(metric, recorded, replayed) for every recorded metric the replay did not reproduce."""
    out = []
    for metric, want in sorted(recorded.items()):
        got = replayed.get(metric, math.nan)
        both_nan = math.isnan(float(want)) and math.isnan(float(got))
        if not both_nan and not math.isclose(float(want), float(got), rel_tol=REL_TOL, abs_tol=ABS_TOL):
            out.append((metric, float(want), float(got)))
    return out
