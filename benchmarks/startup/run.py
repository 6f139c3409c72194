"""Start-up cost of `tesla --help`, `tesla plan`, `tesla train -p 1 --force` and `tesla deploy`, main against this tree.

Each command runs N times, interleaved A/B/A/B with the other checkout and with ``python -c pass``
(the interpreter's own start), in its own project holding the same data; one untimed warm-up per
command and checkout first (the saved help answer and skops' estimator list are written then, as on
a user's second run). The fixed cost of a train is its wall time minus the search step's recorded
``search_s`` (FLAML's fit alone). A deploy is timed from starting ``tesla deploy -m m`` until the served
model first answers a one-row ``/predict`` with 200 (then ``tesla deployments stop m``, untimed). Load
averages are recorded before and after; medians reported.

    python benchmarks/startup/run.py --base /tmp/startup-base --new . --repeats 5 --out benchmarks/startup/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

COMMANDS = {
    "help": ["--help"],
    "plan": ["plan", "-m", "m", "-p", "1"],
    "train": ["train", "-m", "m", "-p", "1", "--force"],
}


def _project(checkout: Path, root: Path, data: Path, env: dict[str, str]) -> Path:
    tesla = str(checkout.resolve() / ".venv" / "bin" / "tesla")
    subprocess.run([tesla, "init", str(root)], check=True, capture_output=True, env=env)
    subprocess.run([tesla, "load", "-d", str(data), "-o", "churn", "--target", "churn"], cwd=root, check=True,
                   capture_output=True, env=env)
    return root


def _search_s(project: Path) -> float:
    with sqlite3.connect(project / ".tesla" / "tesla.db") as db:
        row = db.execute("select result_json from steps where kind='search' and status='succeeded' "
                         "order by rowid desc limit 1").fetchone()
    return float(json.loads(row[0]).get("search_s", 0.0))


def _time(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


_ROW = {"customer_id": "C000000", "plan": "standard", "region": "west", "tenure_months": 34,
        "monthly_charges": 81.82, "support_calls": 1, "autopay": False, "signup_date": "2020-11-13"}


def _deploy(tesla: str, cwd: Path, env: dict[str, str]) -> float:
    """Seconds from starting `tesla deploy` until the model answers one /predict; the deployment is stopped after."""
    started = time.perf_counter()
    out = subprocess.run([tesla, "deploy", "-m", "m"], cwd=cwd, check=True, capture_output=True, text=True, env=env)
    url = next(w for w in out.stdout.split() if w.startswith("http://127.0.0.1:"))
    body = json.dumps({"records": [_ROW]}).encode()
    try:
        while True:
            request = urllib.request.Request(url + "/predict", body, {"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.01)
    finally:
        subprocess.run([tesla, "deployments", "stop", "m"], cwd=cwd, check=True, capture_output=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="checkout of today's main, with its .venv")
    ap.add_argument("--new", type=Path, required=True, help="this checkout, with its .venv")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-repeats", type=int, default=3)
    ap.add_argument("--deploy-repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tesla-startup-"))
    env = {**os.environ, "TESLA_CACHE_DIR": str(work / "cache"), "COLUMNS": "80"}
    gen = f"from tesla.testing import datasets; datasets.churn(800).to_csv({str(work / 'churn.csv')!r}, index=False)"
    subprocess.run([str(args.new / ".venv" / "bin" / "python"), "-c", gen], check=True, env=env)
    sides = {name: (path.resolve(), _project(path, work / name, work / "churn.csv", env))
             for name, path in (("base", args.base), ("new", args.new))}
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"python -c pass": []}
    fixed: dict[str, list[float]] = {}
    for command, tail in COMMANDS.items():
        for side, (checkout, project) in sides.items():
            subprocess.run([str(checkout / ".venv" / "bin" / "tesla"), *tail], cwd=project, check=True,
                           capture_output=True, env=env)  # warm-up, untimed
        repeats = args.train_repeats if command == "train" else args.repeats
        for _ in range(repeats):
            times["python -c pass"].append(_time([sys.executable, "-c", "pass"], work, env))
            for side, (checkout, project) in sides.items():
                wall = _time([str(checkout / ".venv" / "bin" / "tesla"), *tail], project, env)
                times.setdefault(f"{command} {side}", []).append(wall)
                if command == "train":
                    fixed.setdefault(f"train-fixed {side}", []).append(wall - _search_s(project))
    for side, (checkout, project) in sides.items():  # each project holds model m now (the trains above)
        _deploy(str(checkout / ".venv" / "bin" / "tesla"), project, env)  # warm-up, untimed
    for _ in range(args.deploy_repeats):
        for side, (checkout, project) in sides.items():
            times.setdefault(f"deploy {side}", []).append(
                _deploy(str(checkout / ".venv" / "bin" / "tesla"), project, env))
    load_after = os.getloadavg()
    medians = {k: round(statistics.median(v), 3) for k, v in {**times, **fixed}.items()}
    ratios = {c: round(medians[f"{c} new"] / medians[f"{c} base"], 3) for c in [*COMMANDS, "train-fixed", "deploy"]}
    result = {"medians_s": medians, "new_over_base": ratios, "runs": {**times, **fixed},
              "loadavg_before": load_before, "loadavg_after": load_after, "cpus": os.cpu_count(),
              "commands": {**{c: "tesla " + " ".join(t) for c, t in COMMANDS.items()},
                           "deploy": "tesla deploy -m m, until a 1-row /predict answers 200"}}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({"medians_s": medians, "new_over_base": ratios, "load": [load_before, load_after]}, indent=1))


if __name__ == "__main__":
    main()
