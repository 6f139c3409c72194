"""Interleaved A/B of `tesla deploy` until the model first answers /predict: two checkouts on one virtualenv.

Each side is a checkout put first on PYTHONPATH (its ``tesla``) with a folder holding a ``tesla_backends``
link to its ``backends/``, so both run the same interpreter and installed packages:

    git worktree add /tmp/startup-base fde0b39 && mkdir -p /tmp/basepath && \
        ln -sfn /tmp/startup-base/backends /tmp/basepath/tesla_backends
    mkdir -p /tmp/newpath && ln -sfn "$PWD/backends" /tmp/newpath/tesla_backends
    .venv/bin/python benchmarks/startup/deploy_ab.py --base /tmp/startup-base:/tmp/basepath \
        --new "$PWD:/tmp/newpath" --repeats 3

Each side trains model ``m`` (3 trials) in its own project on the generated churn table, deploys once
untimed (the caches a user's second deploy finds), then the timed deploys alternate; ``run._deploy`` times one.
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as startup  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--base", required=True, help="PYTHONPATH of the base side")
ap.add_argument("--new", required=True, help="PYTHONPATH of the new side")
ap.add_argument("--repeats", type=int, default=3)
args = ap.parse_args()
TESLA = str(Path(sys.executable).with_name("tesla"))
sides = {"base": args.base, "new": args.new}
work = Path(tempfile.mkdtemp(prefix="deploy-ab-"))
subprocess.run([sys.executable, "-c", f"from tesla.testing import datasets; datasets.churn(800).to_csv({str(work/'churn.csv')!r}, index=False)"], check=True)
envs, projects = {}, {}
for side, path in sides.items():
    env = {**os.environ, "PYTHONPATH": path, "TESLA_CACHE_DIR": str(work / f"cache-{side}")}
    envs[side] = env
    subprocess.run([TESLA, "init", side], cwd=work, check=True, capture_output=True, env=env)
    p = work / side
    subprocess.run([TESLA, "load", "-d", str(work / "churn.csv"), "-o", "churn", "--target", "churn"], cwd=p, check=True, capture_output=True, env=env)
    subprocess.run([TESLA, "train", "-m", "m", "-p", "3"], cwd=p, check=True, capture_output=True, env=env)
    projects[side] = p
    startup._deploy(TESLA, p, env)  # warm-up, untimed (saves the compose cache / skops answers)
load_before = os.getloadavg()
times = {s: [] for s in sides}
for _ in range(args.repeats):
    for side in sides:
        times[side].append(round(startup._deploy(TESLA, projects[side], envs[side]), 2))
print(json.dumps({"times": times, "median": {s: sorted(v)[len(v)//2] for s, v in times.items()}, "load_before": load_before, "load_after": os.getloadavg()}))
