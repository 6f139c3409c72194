"""Runs side by side (``tesla runs compare``) and the difference of two runs' configs (``tesla diff``).

A training run records its resolved config in its plan's meta (``tesla.lineage.run_meta``). For a
run made before that, the config is what its records still hold: the resolved config of the model it
registered, else its plan's step params (under ``plan.<step>``), so older runs still compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tesla.compiler.diff import KeyChange, config_changes, flatten
from tesla.errors import PlanError
from tesla.plan import Plan

if TYPE_CHECKING:
    from tesla.store import Run, Store
    from tesla.store.records import EstimatorScore

__all__ = ["RunComparison", "RunSummary", "compare_runs", "diff_runs", "run_summary"]


@dataclass(frozen=True)
class RunSummary:
    """One run's config, held-out metrics and leaderboard."""

    run: Run
    config: dict[str, Any]
    config_source: str  # "recorded" | "registered model" | "plan params" | "none"
    metrics: dict[str, float]
    leaderboard: list[EstimatorScore]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run.id, "plan": self.run.plan_name, "status": self.run.status,
                "config_source": self.config_source, "config": self.config, "metrics": self.metrics,
                "leaderboard": [vars(e) for e in self.leaderboard]}


def _config(store: Store, run: Run) -> tuple[dict[str, Any], str]:
    if isinstance(run.meta.get("config"), dict):
        return dict(run.meta["config"]), "recorded"
    registered = [mv for mv in store.model_versions() if mv.run_id == run.id and mv.config.get("resolved")]
    if registered:
        return dict(registered[-1].config["resolved"]), "registered model"
    try:
        plan = Plan.from_json(run.plan_json)
    except (PlanError, KeyError, TypeError):  # a sweep's record is not a plan
        return {}, "none"
    return {"plan": {s.id: dict(s.params) for s in plan.steps}}, "plan params"


def run_summary(store: Store, run_id: str) -> RunSummary:
    """What ``runs compare`` shows of one run."""
    from tesla.report.run_report import estimator_leaderboard

    run = store.run(run_id)
    config, source = _config(store, run)
    steps = {s.step_id: s for s in store.run_steps(run.id)}
    metrics = dict(steps["evaluate"].result.get("metrics", {})) if "evaluate" in steps else {}
    return RunSummary(run, config, source, metrics, estimator_leaderboard(store.trials(run.id)))


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side: the config keys that differ among them, every metric, every leaderboard."""

    runs: list[RunSummary]

    @property
    def groups(self) -> list[str]:
        """The top-level config groups every run recorded (an older run may hold only some): what is compared."""
        return sorted(set.intersection(*(set(r.config) for r in self.runs))) if self.runs else []

    @property
    def config_rows(self) -> list[dict[str, Any]]:
        """One row per config key (of ``groups``) whose value differs between the runs: ``{"key", <run id>: value}``."""
        flat = [flatten({g: r.config[g] for g in self.groups}) for r in self.runs]
        keys = sorted(set().union(*flat))
        return [{"key": k, **{r.run.id: f.get(k, "(absent)") for r, f in zip(self.runs, flat)}}
                for k in keys if len({repr(f.get(k, "(absent)")) for f in flat}) > 1]

    @property
    def metric_rows(self) -> list[dict[str, Any]]:
        names = list(dict.fromkeys(m for r in self.runs for m in r.metrics))
        return [{"metric": m, **{r.run.id: r.metrics.get(m) for r in self.runs}} for m in names]

    @property
    def leaderboard_rows(self) -> list[dict[str, Any]]:
        """Rank by rank: each run's estimator there and its best validation loss."""
        depth = max((len(r.leaderboard) for r in self.runs), default=0)
        return [{"rank": i + 1, **{r.run.id: _board_cell(r.leaderboard, i) for r in self.runs}} for i in range(depth)]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "compared_groups": self.groups,
                "config_differences": self.config_rows}


def _board_cell(board: Sequence[EstimatorScore], i: int) -> str | None:
    if i >= len(board):
        return None
    line = board[i]
    return line.estimator if line.best_loss is None else f"{line.estimator} {line.best_loss:.5g}"


def compare_runs(store: Store, run_ids: Sequence[str]) -> RunComparison:
    """The runs ``run_ids`` side by side (see ``RunComparison``)."""
    return RunComparison([run_summary(store, run_id) for run_id in dict.fromkeys(run_ids)])


def diff_runs(store: Store, run_a: str, run_b: str) -> tuple[RunSummary, RunSummary, list[KeyChange]]:
    """Every resolved-config key that differs from run ``run_a`` to run ``run_b``, values in full (of the
    groups both runs recorded: ``RunComparison.groups``)."""
    a, b = run_summary(store, run_a), run_summary(store, run_b)
    groups = RunComparison([a, b]).groups
    return a, b, config_changes({g: a.config[g] for g in groups}, {g: b.config[g] for g in groups})
