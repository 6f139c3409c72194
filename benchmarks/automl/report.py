"""Paired bootstrap over the saved test predictions of ``suite.py``: per task win / tie / loss, geometric-mean ratio.

    .venv/bin/python benchmarks/automl/report.py suite_30s [--against flaml] [--variants tesla tesla-norefit] [--skip digits]

For each task and seed, each variant is compared with ``--against`` on the same test rows: the
ratio is the other side's loss / the variant's loss (log loss, or RMSE), so > 1 means the variant is
better. ``B`` bootstrap resamples of the test rows (the same rows for both sides) give a 95 %
interval of that ratio: win when it lies above 1, loss when below, tie otherwise. Wall time is
checked against the budget rule ``budget + max(5 %, 2 s)``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
B = 1000


def row_losses(kind: str, y: list[Any], pred: np.ndarray, classes: list[str] | None) -> np.ndarray:
    """Per-row loss whose mean (log loss) or root of the mean (RMSE) is the task's metric."""
    if kind == "regression":
        return (np.asarray(y, dtype="float64") - pred) ** 2
    index = {c: i for i, c in enumerate(classes or [])}
    proba = pred / pred.sum(axis=1, keepdims=True)
    picked = np.array([proba[i, index[str(v)]] if str(v) in index else 0.0 for i, v in enumerate(y)])
    return -np.log(np.clip(picked, 1e-15, 1.0))


def metric(kind: str, losses: np.ndarray) -> Any:
    return np.sqrt(losses.mean(axis=-1)) if kind == "regression" else losses.mean(axis=-1)


def compare(kind: str, mine: np.ndarray, theirs: np.ndarray, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(mine), size=(B, len(mine)))
    ratios = metric(kind, theirs[idx]) / metric(kind, mine[idx])
    low, high = np.percentile(ratios, [2.5, 97.5])
    point = float(metric(kind, theirs) / metric(kind, mine))
    verdict = "win" if low > 1 else ("loss" if high < 1 else "tie")
    return {"ratio": point, "low": float(low), "high": float(high), "verdict": verdict,
            "mine": float(metric(kind, mine)), "theirs": float(metric(kind, theirs))}


def within_budget(wall_s: float, budget_s: float) -> bool:
    return wall_s <= budget_s + max(0.05 * budget_s, 2.0)


def _gmean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _per_task(per_task: dict[str, list[tuple[dict[str, Any], float, bool]]], variant: str, against: str) -> list[str]:
    """One line per task over its seeds: geometric-mean ratio, verdicts, worst wall time."""
    out = [f"| task | seeds | {against} (mean) | {variant} (mean) | ratio (geo-mean) | win / tie / loss "
           f"| {variant} wall s (max) | within budget |", "|" + "---|" * 8]
    for task, runs in sorted(per_task.items()):
        tally = {v: sum(c["verdict"] == v for c, _, _ in runs) for v in ("win", "tie", "loss")}
        out.append(f"| {task} | {len(runs)} | {np.mean([c['theirs'] for c, _, _ in runs]):.4g} "
                   f"| {np.mean([c['mine'] for c, _, _ in runs]):.4g} | {_gmean([c['ratio'] for c, _, _ in runs]):.3f} "
                   f"| {tally['win']} / {tally['tie']} / {tally['loss']} | {max(w for _, w, _ in runs):.1f} "
                   f"| {sum(ok for _, _, ok in runs)} of {len(runs)} |")
    return out


def build(out: str, against: str, variants: list[str], skip: tuple[str, ...] = ()) -> str:
    data = json.loads((HERE / f"{out}.json").read_text())
    rows = {(r["task"], r["seed"], r["variant"]): r for r in data["results"]}
    pred_root = HERE / f"{out}_pred"
    lines: list[str] = []
    for variant in variants:
        head = (f"| task | kind | seed | {against} | {variant} | ratio (95 % CI) | verdict | {variant} wall s "
                f"| {against} wall s | FLAML budget in {variant} s | refit done | {variant} best | {against} best "
                "| load before |")
        table, ratios, verdicts, walls = [head, "|" + "---|" * 14], [], {"win": 0, "tie": 0, "loss": 0}, []
        per_task: dict[str, list[tuple[dict[str, Any], float, bool]]] = {}
        for (task, seed, name), mine in sorted(rows.items()):
            theirs = rows.get((task, seed, against))
            if name != variant or theirs is None or "error" in mine or "error" in theirs or task in skip:
                continue
            kind = mine["kind"]
            y = json.loads((pred_root / task / "y_test.json").read_text())
            a = row_losses(kind, y, np.load(pred_root / task / f"{variant}-s{seed}.npy"), mine.get("classes"))
            b = row_losses(kind, y, np.load(pred_root / task / f"{against}-s{seed}.npy"), theirs.get("classes"))
            c = compare(kind, a, b)
            ratios.append(c["ratio"])
            verdicts[c["verdict"]] += 1
            walls.append(within_budget(mine["wall_s"], mine["budget_s"]))
            per_task.setdefault(task, []).append((c, mine["wall_s"], walls[-1]))
            table.append(f"| {task} | {kind} | {seed} | {c['theirs']:.4g} | {c['mine']:.4g} | {c['ratio']:.3f} "
                         f"({c['low']:.3f}-{c['high']:.3f}) | {c['verdict']} | {mine['wall_s']:.1f} "
                         f"| {theirs['wall_s']:.1f} | {(mine.get('budget') or {}).get('flaml_s', '-')} "
                         f"| {mine.get('refit', '-')} | {mine.get('best_estimator')} | {theirs.get('best_estimator')} "
                         f"| {mine['load_avg_before'][0]:.1f} |")
        if not ratios:
            continue
        gmean = _gmean(ratios)
        lines += [f"### {variant} vs {against}", "", *_per_task(per_task, variant, against), "", *table, "",
                  f"Geometric-mean ratio {gmean:.3f} over {len(ratios)} task-seeds; win / tie / loss "
                  f"{verdicts['win']} / {verdicts['tie']} / {verdicts['loss']}; {variant} within the budget rule "
                  f"on {sum(walls)} of {len(walls)}.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--against", default="flaml")
    ap.add_argument("--variants", nargs="*", default=["tesla"])
    ap.add_argument("--skip", nargs="*", default=[], help="tasks left out (the file name says so)")
    args = ap.parse_args()
    md = build(args.out, args.against, args.variants, tuple(args.skip))
    suffix = "".join(f"_no-{t}" for t in args.skip)
    (HERE / f"{args.out}_{args.against}{suffix}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
