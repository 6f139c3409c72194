"""The end-to-end demo: init -> load -> plan -> train -> evaluate -> deploy -> HTTP predict -> stop.

It drives the real `tesla` executable (the commands are printed as they run) on scikit-learn's
bundled breast-cancer data exported to CSV, so it needs no network. Run from the repository:

    .venv/bin/python demo/run_demo.py [--workdir DIR] [--trials N]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TESLA = str(Path(sys.executable).with_name("tesla"))


def sh(*args: str, cwd: Path) -> str:
    print(f"\n$ tesla {shlex.join(args)}", flush=True)
    proc = subprocess.run([TESLA, *args], cwd=cwd, text=True, stdout=subprocess.PIPE)
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        sys.exit(f"demo failed: `tesla {shlex.join(args)}` exited {proc.returncode}")
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None, help="where to create the demo project")
    ap.add_argument("--trials", type=int, default=30)
    args = ap.parse_args()
    started = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tesla-demo-"))
    work.mkdir(parents=True, exist_ok=True)

    from tesla.testing.datasets import breast_cancer

    df = breast_cancer()
    train = df.sample(frac=0.8, random_state=0)
    test = df.drop(train.index)
    sh("init", "my-project", cwd=work)
    project = work / "my-project"
    train.to_csv(project / "data" / "data.csv", index=False)
    test.to_csv(project / "data" / "test.csv", index=False)
    test.drop(columns=["target"]).to_csv(project / "data" / "new.csv", index=False)

    sh("load", "-d", "data/data.csv", "-o", "cancer", "--target", "target", cwd=project)
    sh("plan", "-m", "my_model", "-f", "scikit-learn", "-p", str(args.trials), cwd=project)
    sh("train", "-m", "my_model", "-f", "scikit-learn", "-p", str(args.trials), cwd=project)
    sh("evaluate", "-m", "my_model", "-d", "data/test.csv", cwd=project)
    out = sh("deploy", "-m", "my_model", "-p", "production", cwd=project)
    url = out.split(" at ", 1)[1].split()[0]
    row = json.loads(test.drop(columns=["target"]).head(1).to_json(orient="records"))
    body = json.dumps({"records": row}).encode()
    print(f"\n$ curl -s {url}/predict -d '{body.decode()[:80]}...'")
    req = urllib.request.Request(f"{url}/predict", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        print(resp.read().decode())
    sh("predict", "-m", "my_model", "-d", "data/new.csv", "-o", "preds.csv", cwd=project)
    sh("deployments", "list", cwd=project)
    sh("deployments", "stop", "my_model", cwd=project)
    print(f"\nDemo finished in {time.perf_counter() - started:.1f} s; project at {project}")


if __name__ == "__main__":
    main()
