"""Tesla (new), Tesla (old: the code at --old-src) and `mlflow models serve`, per dataset, same client.

For each dataset prepare.py made (mixed, numeric), the three servers run at once on 127.0.0.1, idle
except while measured; wrk (one thread, closed loop, keep-alive) POSTs the same ``dataframe_split``
body to ``/invocations`` of each. Cells: 1-row requests at concurrency 32 and 1, 100-row requests at
concurrency 8. Within each round every cell runs on every server, the server order rotating from round
to round (A/B/C, B/C/A, ...); a cell's figure is the median over rounds. Tesla runs with production
defaults plus prediction capture ON; after the run the captured rows are counted against the rows wrk
saw answered. In-process: one-row predict of the bundle, fast path and pandas path, and MLflow's
pipeline (timed by mlflow_model.py in its own venv).

Usage (see README.md): python benchmarks/serving/run.py WORKDIR [--duration 5] [--rounds 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # cwd: the dataset's folder, never a checkout (`python -m` imports the package of its cwd first, which
    # would make --old-src's server run this checkout's code)
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})}, cwd=log.parent)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server {url} exited with {proc.returncode}; see its log")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server {url} did not answer /ping within {timeout_s} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(url: str, body: Path, connections: int, duration_s: int) -> dict[str, Any]:
    """One closed-loop wrk run: throughput, p50/p99 latency (ms), errors."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "10s",
                          "-s", str(HERE / "post.lua"), f"{url}/invocations"], capture_output=True, text=True,
                         env={**os.environ, "BODY": str(body)}, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
            "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
            "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)}


def agreement(urls: dict[str, str], body: Path) -> dict[str, float]:
    """Each server's P(last class) for the first benchmark row (the MLflow pipeline is refitted: close, not equal)."""
    payload = json.loads(body.read_text())
    out = {}
    for name, url in urls.items():
        first = httpx.post(f"{url}/invocations", json=payload, timeout=30).json()["predictions"][0]
        out[name] = (list(first["probabilities"].values())[-1] if isinstance(first, dict) else
                     float(first[-1] if isinstance(first, list) else first))
    return out


def in_process(work: Path, duration_s: float) -> dict[str, Any]:
    """One-row predict in this process, no HTTP: the served fast path and the pandas path it replaces."""
    from tesla.models import load_bundle
    from tesla.models.bundle import records_frame

    bundle = load_bundle((work / "bundle.txt").read_text().strip())
    rows = json.loads((work / "rows.json").read_text())
    out = {"tesla fast path (predict_request)": _timed(lambda i: bundle.predict_request([rows[i % len(rows)]]),
                                                        1, duration_s),
           "tesla pandas path (predict_records)": _timed(lambda i: bundle.predict_records(
               records_frame([rows[i % len(rows)]], bundle.signature)), 1, duration_s)}
    mlflow = work / "mlflow_inprocess.json"
    if mlflow.exists():
        out["mlflow pipeline (pyfunc predict, own venv)"] = json.loads(mlflow.read_text())
    return out


def _timed(call: Any, rows_per_call: int, duration_s: float) -> dict[str, float]:
    for i in range(50):
        call(i)
    latencies, started, i = [], time.perf_counter(), 0
    while time.perf_counter() - started < duration_s:
        t = time.perf_counter()
        call(i)
        latencies.append((time.perf_counter() - t) * 1e3)
        i += 1
    latencies.sort()
    return {"calls": i, "p50_ms": round(latencies[len(latencies) // 2], 3),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)], 3)}


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


CELLS = (("1-row c=32", 1, 32), ("1-row c=1", 1, 1), ("100-row c=8", 100, 8))


def bench_dataset(work: Path, args: argparse.Namespace, ports: tuple[int, int, int]) -> dict[str, Any]:
    shutil.rmtree(work / "capture", ignore_errors=True)
    bundle = (work / "bundle.txt").read_text().strip()
    env = {"OMP_NUM_THREADS": str(args.threads)}  # the same thread settings for every server
    tesla_cmd = [sys.executable, "-m", "tesla.serving", "--bundle", bundle, "--model-ref", "bench@1"]
    procs, urls = {}, {}
    specs = {"tesla": (tesla_cmd + ["--capture-dir", str(work / "capture"), "--workers", str(args.workers),
                                    "--predict-threads", str(args.predict_threads)], {}),
             "mlflow": ([str(args.mlflow_venv / "bin" / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                         "--env-manager", "local", "-h", "127.0.0.1", "-w", str(args.mlflow_workers)],
                        # as with an activated venv: mlflow execs `uvicorn` from PATH
                        {"PATH": f"{args.mlflow_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"})}
    if args.old_src:
        specs["tesla-old"] = (tesla_cmd, {"PYTHONPATH": str(args.old_src)})
    for (name, (cmd, extra)), port in zip(specs.items(), ports):
        cmd = cmd + (["-p", str(port)] if name == "mlflow" else ["--port", str(port)])
        procs[name] = _start(cmd, work / f"{name}.log", {**env, **extra})
        urls[name] = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"machine_before": _machine()}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in specs}
    answered_rows = 0
    try:
        for name, url in urls.items():
            _wait_ready(url, procs[name])
        result["agreement_p_last_class"] = agreement(urls, work / "body-1.json")
        result["tesla_source"] = {name: httpx.get(f"{url}/health", timeout=10).json().get("worker_pid") is not None
                                  for name, url in urls.items() if name.startswith("tesla")}  # True: this change
        answered_rows += 1
        for name, url in urls.items():
            for _, n, c in CELLS:
                warm = wrk(url, work / f"body-{n}.json", c, 2)  # warm up
                answered_rows += (warm["requests"] - warm["errors"]) * n if name == "tesla" else 0
        order = list(urls)
        for r in range(args.rounds):
            for label, n, c in CELLS:
                for name in order[r % len(order):] + order[:r % len(order)]:
                    run = wrk(urls[name], work / f"body-{n}.json", c, args.duration)
                    run["load_avg_1"] = round(os.getloadavg()[0], 2)
                    runs[name].setdefault(label, []).append(run)
                    if name == "tesla":
                        answered_rows += (run["requests"] - run["errors"]) * n
                    print(f"{work.name} round {r + 1} {label:<12} {name:<9} {run['rps']:9.1f} req/s "
                          f"({run['rps'] * n:9.0f} rows/s) p50 {run['p50_ms']:8.2f} ms  p99 {run['p99_ms']:8.2f} ms  "
                          f"errors {run['errors']}  load {run['load_avg_1']}", flush=True)
    finally:
        for proc in procs.values():
            _stop(proc)
    result["runs"] = runs
    result["median"] = {name: {label: _median(cells) for label, cells in per.items()} for name, per in runs.items()}
    captured = sum(1 for f in (work / "capture").glob("predictions-*.jsonl") for _ in f.open())
    dropped = json.loads((work / "capture" / "dropped.json").read_text())["dropped"]
    # wrk counts only responses it read before its deadline; the server also answers the last few in flight
    result["capture"] = {"captured_rows": captured, "rows_wrk_saw_answered": answered_rows, "dropped": dropped}
    result["in_process"] = in_process(work, min(args.duration, 5))
    result["machine_after"] = _machine()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--datasets", nargs="+", default=["mixed", "numeric"])
    ap.add_argument("--mlflow-venv", type=Path, default=Path(os.environ.get("MLFLOW_VENV", "/tmp/tesla-bench-mlflow")))
    ap.add_argument("--old-src", type=Path, default=None, help="a checkout of the old Tesla (its tesla/ is imported)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="Tesla server processes (deploy.workers)")
    ap.add_argument("--predict-threads", type=int, default=1, help="Tesla predict threads per process")
    ap.add_argument("--mlflow-workers", type=int, default=1, help="uvicorn workers of mlflow models serve (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every server")
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results: dict[str, Any] = {"duration_s": args.duration, "rounds": args.rounds, "tesla_workers": args.workers,
                               "tesla_predict_threads": args.predict_threads, "mlflow_workers": args.mlflow_workers,
                               "omp_threads": args.threads, "datasets": {}}
    for name in args.datasets:
        results["datasets"][name] = bench_dataset(args.workdir / name, args, (18401, 18402, 18403))
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def _median(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {**{k: statistics.median(run[k] for run in cells) for k in ("rps", "p50_ms", "p99_ms")},
            "errors": sum(run["errors"] for run in cells)}


def table(results: dict[str, Any]) -> str:
    """The README tables: per dataset and cell, each server's median and the ratios against MLflow."""
    lines = []
    for dataset, res in results["datasets"].items():
        med = res["median"]
        lines += [f"### {dataset}", "", "| cell | server | req/s | rows/s | p50 ms | p99 ms | req/s vs MLflow | "
                  "p50 vs MLflow | p99 vs MLflow |", "|---|---|---|---|---|---|---|---|---|"]
        for label, n, _ in CELLS:
            m = med["mlflow"][label]
            for name in med:
                t = med[name][label]
                lines.append(f"| {label} | {name} | {t['rps']:.0f} | {t['rps'] * n:.0f} | {t['p50_ms']:.1f} | "
                             f"{t['p99_ms']:.1f} | {t['rps'] / m['rps']:.2f}x | {t['p50_ms'] / m['p50_ms']:.2f}x | "
                             f"{t['p99_ms'] / m['p99_ms']:.2f}x |")
        lines += ["", "| in-process, 1 row | p50 ms | p99 ms |", "|---|---|---|"]
        lines += [f"| {k} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} |" for k, v in res["in_process"].items()]
        lines += ["", f"capture: {res['capture']}; load before {res['machine_before']['load_avg_1_5_15']}, "
                  f"after {res['machine_after']['load_avg_1_5_15']}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
