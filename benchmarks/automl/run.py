"""Tesla vs plain FLAML on offline public datasets, at equal budgets and seeds. Not a test: it writes numbers.

For each task the data is loaded into a fresh Tesla project and ``tesla train`` runs with a
wall-clock search budget; then plain ``flaml.AutoML`` gets the very rows Tesla's split step
trained on and the same budget, seed, metric and ``n_jobs=1``, in its own process with the same
environment. Both are scored on the same held-out rows by one scorer (``score.py``).

FLAML gets Tesla's default estimator list (so both search the same space) and runs twice: the
second run shows how much a timed search varies by itself on a loaded machine.
Tesla variants: ``tesla`` (the defaults, same knobs as FLAML), ``tesla+ens`` (search.ensemble=true)
and ``tesla warm`` (a second model version warm-started from the first: search.starting_points=previous;
it had a previous run, plain FLAML did not). CLI overhead = the wall time of the whole ``tesla train``
process (start-up and imports, load, split, search, evaluate, register, bundle) minus its search
time (``search_s``); FLAML script overhead is the same for the plain-FLAML process (start-up,
imports, reading the data, scoring). In-process overhead = ``api.train`` with every step forced and
the ML imports already loaded, minus ``search_s``: Tesla's own work.

    .venv/bin/python benchmarks/automl/run.py [--budget 8] [--tasks breast_cancer wine ...] [--workdir DIR]

Writes ``results.json`` and ``results.md`` next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESLA = str(Path(sys.executable).with_name("tesla"))
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
HIGHER_IS_BETTER = {"r2", "roc_auc", "accuracy"}
EXTRA: list[str] = []  # overrides every Tesla run gets (--selector)


def _sklearn(loader: str, label_names: bool = True) -> Callable[[], Any]:
    def load() -> Any:
        import sklearn.datasets as sk

        bunch = getattr(sk, loader)(as_frame=True)
        df = bunch.frame.copy()
        df.columns = [str(c).replace(" ", "_").replace("(", "").replace(")", "") for c in df.columns]
        if label_names and hasattr(bunch, "target_names"):
            df["target"] = [f"c{int(i)}" for i in df["target"]]
        return df
    return load


def _churn() -> Any:
    from tesla.testing.datasets import churn

    return churn(3000, seed=1)


# name -> (loader, target, task, search metric, columns to drop)
TASKS: dict[str, tuple[Callable[[], Any], str, str, str, list[str]]] = {
    "breast_cancer": (_sklearn("load_breast_cancer"), "target", "binary", "log_loss", []),
    "wine": (_sklearn("load_wine"), "target", "multiclass", "log_loss", []),
    "digits": (_sklearn("load_digits"), "target", "multiclass", "log_loss", []),
    "diabetes": (_sklearn("load_diabetes", label_names=False), "target", "regression", "r2", []),
    "churn (generated, mixed types)": (_churn, "churn", "binary", "log_loss", ["customer_id"]),
}


def _env() -> dict[str, str]:
    return {**os.environ, **THREADS, "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_env(), timeout=1800)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(args)}` exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc, wall


def _limits(budget: float, trials: int | None) -> tuple[list[str], list[str]]:
    """(Tesla's overrides and -p, FLAML's arguments) for a time budget, or for a trial count alone."""
    if trials:
        return ["-p", str(trials)], ["--budget", "-1", "--max-iter", str(trials)]
    return ["-p", "1000000", f"search.time_budget_s={budget}"], ["--budget", str(budget)]


def _tesla(project: Path, model: str, task: str, budget: float, seed: int, metric: str, drop: list[str],
           extra: list[str], trials: int | None = None) -> dict[str, Any]:
    from tesla import api
    from tesla.models import load_bundle
    from score import score

    overrides = [f"search.metric={metric}", f"search.seed={seed}",
                 "search.n_jobs=1", "data.split.test_size=0.25", f"data.split.seed={seed}",
                 f"data.exclude=[{','.join(drop)}]", *EXTRA, *extra]
    _, wall = _run([TESLA, "train", "-m", model, *_limits(budget, trials)[0], *overrides], project)
    store = api.open_store(project)
    mv = store.model(model)
    steps = {s.step_id: s for s in store.run_steps(mv.run_id)}
    test_path = store.artifacts.path(steps["split"].outputs["test"])
    import pandas as pd

    test = pd.read_parquet(test_path)
    bundle = load_bundle(store.artifacts.path(mv.bundle_sha))
    rows = test.drop(columns=[bundle.manifest["target"]])
    y = test[bundle.manifest["target"]]
    scores = (score(task, y, bundle.predict(rows), None, None) if task == "regression"
              else score(task, y, None, bundle.predict_proba(rows), bundle.classes))
    search = steps["search"].result
    return {"scores": scores, "wall_s": wall, "search_s": search["search_s"], "overhead_s": wall - search["search_s"],
            "best_estimator": search["best_estimator"], "ensemble": search.get("ensemble", []),
            "split": {k: str(store.artifacts.path(steps["split"].outputs[k])) for k in ("train", "test")}}


def _in_process(project: Path, model: str, budget: float, seed: int, metric: str, drop: list[str],
                trials: int | None) -> float:
    """Tesla's own work beyond the search, imports excluded: ``api.train`` (every step forced) minus its search."""
    import flaml  # noqa: F401  # warm imports: this measures Tesla's work, not Python's start-up
    import lightgbm  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import xgboost  # noqa: F401
    from tesla import api

    overrides = [f"search.metric={metric}", f"search.seed={seed}",
                 "search.n_jobs=1", "data.split.test_size=0.25", f"data.split.seed={seed}",
                 f"data.exclude=[{','.join(drop)}]", *EXTRA] + ([] if trials else [f"search.time_budget_s={budget}"])
    started = time.perf_counter()
    result = api.train(model, max_iter=trials or 1_000_000, overrides=overrides, force=True, project_dir=project)
    return time.perf_counter() - started - result.search["search_s"]


def _flaml(split: dict[str, str], target: str, task: str, metric: str, budget: float, seed: int,
           drop: list[str], cwd: Path, trials: int | None = None) -> dict[str, Any]:
    from tesla.automl.adapter import default_estimators

    # the estimators Tesla searches by default, so both sides search the same space
    args = [sys.executable, str(HERE / "flaml_baseline.py"), "--train", split["train"], "--test", split["test"],
            "--target", target, "--task", task, "--metric", metric, *_limits(budget, trials)[1], "--seed", str(seed),
            "--estimators", *default_estimators("scikit-learn", task)]
    proc, _ = _run(args + (["--drop", *drop] if drop else []), cwd)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["overhead_s"] = out["wall_s"] - out["fit_s"]
    return out


def run_task(name: str, workdir: Path, budget: float, seed: int, trials: int | None = None) -> dict[str, Any]:
    loader, target, task, metric, drop = TASKS[name]
    slug = name.split()[0]
    work = workdir / slug
    work.mkdir(parents=True, exist_ok=True)
    df = loader()
    df.to_csv(work / "data.csv", index=False)
    if not (work / "p").exists():
        _run([TESLA, "init", "p"], work)
    project = work / "p"
    _run([TESLA, "load", "-d", str(work / "data.csv"), "-o", "data", "--target", target], project)
    limit = f"{trials} trials" if trials else f"budget {budget:g} s"
    print(f"[{name}] {len(df)} rows x {df.shape[1] - 1} features, {task}, metric {metric}, {limit}", flush=True)
    tesla = _tesla(project, slug, task, budget, seed, metric, drop, [], trials)
    flaml = _flaml(tesla["split"], target, task, metric, budget, seed, drop, HERE, trials)
    rerun = _flaml(tesla["split"], target, task, metric, budget, seed, drop, HERE, trials)  # a timed search's noise
    ens = _tesla(project, f"{slug}_ens", task, budget, seed, metric, drop, ["search.ensemble=true"], trials)
    warm = _tesla(project, slug, task, budget, seed, metric, drop, ["search.starting_points=previous"], trials)
    tesla["in_process_overhead_s"] = _in_process(project, f"{slug}_inproc", budget, seed, metric, drop, trials)
    for run in (tesla, ens, warm):
        run.pop("split")  # machine paths: not a result
    result = {"task": name, "rows": len(df), "features": df.shape[1] - 1 - len(drop), "kind": task, "metric": metric,
              "flaml": flaml, "flaml rerun": rerun, "tesla": tesla, "tesla+ens": ens, "tesla warm": warm}
    print(json.dumps({k: (v["scores"][metric] if isinstance(v, dict) and "scores" in v else v)
                      for k, v in result.items()}), flush=True)
    return result


def ratio(metric: str, tesla: float, flaml: float) -> float:
    """> 1: Tesla is better (for a loss, FLAML's loss / Tesla's; for a score, Tesla's / FLAML's)."""
    return tesla / flaml if metric in HIGHER_IS_BETTER else flaml / tesla


def table(results: list[dict[str, Any]]) -> str:
    head = ("| task | rows | metric | FLAML | FLAML rerun | Tesla | ratio | Tesla+ens | ratio | Tesla warm | ratio "
            "| Tesla CLI overhead s | FLAML script overhead s | Tesla in-process overhead s |")
    lines = [head, "|" + "---|" * 14]
    for r in results:
        m = r["metric"]
        f = r["flaml"]["scores"][m]
        cells = [r["task"], str(r["rows"]), m, f"{f:.4f}", f"{r['flaml rerun']['scores'][m]:.4f}"]
        for variant in ("tesla", "tesla+ens", "tesla warm"):
            t = r[variant]["scores"][m]
            cells += [f"{t:.4f}", f"{ratio(m, t, f):.3f}"]
        cells += [f"{r['tesla']['overhead_s']:.2f}", f"{r['flaml']['overhead_s']:.2f}",
                  f"{r['tesla']['in_process_overhead_s']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=8.0, help="search budget per run, seconds")
    ap.add_argument("--trials", type=int, default=None,
                    help="bound every search by this many trials instead of a budget (Tesla: reproducible mode)")
    ap.add_argument("--out", default="results", help="basename of the result files next to this script")
    ap.add_argument("--selector", default=None, choices=["auto", "roundrobin", "cost"],
                    help="search.learner_selector for every Tesla run (default: Tesla's default, auto)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", nargs="*", default=[t.split()[0] for t in TASKS])
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))  # score.py
    os.environ.update(THREADS)  # the scorer in this process too
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tesla-bench-"))
    chosen = [t for t in TASKS if t.split()[0] in args.tasks]
    started = time.perf_counter()
    if args.selector:
        EXTRA.append(f"search.learner_selector={args.selector}")
    results = [run_task(name, workdir, args.budget, args.seed, args.trials) for name in chosen]
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
               "threads": THREADS, "n_jobs": 1, "budget_s": None if args.trials else args.budget,
               "trials": args.trials, "seed": args.seed, "tesla_overrides": EXTRA,
               "total_s": round(time.perf_counter() - started, 1)}
    (HERE / f"{args.out}.json").write_text(json.dumps({"machine": machine, "results": results}, indent=1, default=str))
    md = table(results)
    (HERE / f"{args.out}.md").write_text(md + "\n" + json.dumps(machine) + "\n")
    print(md)
    print(json.dumps(machine))


if __name__ == "__main__":
    main()
