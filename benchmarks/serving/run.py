"""Tesla vs `mlflow models serve`: the same LightGBM model, the same requests, the same load generator.

Both servers run at once on 127.0.0.1 (one process each, uvicorn, one worker), idle except while
measured; wrk (one thread, closed loop, keep-alive) sends the same one-row ``dataframe_split``
body to ``POST /invocations`` of each at concurrency 1, 8 and 32, alternating servers within each
round; the reported figure per cell is the median over rounds. Tesla runs with its production
defaults: micro-batching 64 rows / 2 ms and prediction capture ON (every row logged to disk).
The in-process ceiling is the bundle's own predict on the same rows, without HTTP.

Usage (see README.md): python benchmarks/serving/run.py WORKDIR --mlflow-venv DIR [--duration 10] [--rounds 3]
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
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})})


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


def same_model(tesla: str, mlflow: str, body: Path) -> dict[str, float]:
    """Both servers' P(class 1) for the benchmark row: they must agree (the same booster)."""
    payload = json.loads(body.read_text())
    t = httpx.post(f"{tesla}/invocations", json=payload, timeout=30).json()["predictions"][0]
    m = httpx.post(f"{mlflow}/invocations", json=payload, timeout=30).json()["predictions"][0]
    tesla_p = list(t["probabilities"].values())[1]
    mlflow_p = float(m if not isinstance(m, (list, dict)) else list(m.values() if isinstance(m, dict) else m)[-1])
    if abs(tesla_p - mlflow_p) > 1e-9:
        raise SystemExit(f"the servers disagree: Tesla P(class 1)={tesla_p}, MLflow {mlflow_p}")
    return {"tesla": tesla_p, "mlflow": mlflow_p}


def in_process(workdir: Path, duration_s: float) -> dict[str, Any]:
    """The ceiling: Tesla's bundle predicting the same rows in this process, no HTTP."""
    import lightgbm as lgb
    import numpy as np

    from tesla.models import load_bundle
    from tesla.serving.payload import rows_to_frame

    bundle = load_bundle((workdir / "bundle.txt").read_text().strip())
    rows = json.loads((workdir / "rows.json").read_text())
    booster = lgb.Booster(model_file=str(workdir / "booster.txt"))
    columns = json.loads((workdir / "columns.json").read_text())
    out: dict[str, Any] = {}
    for label, size in (("predict_records, 1 row per call", 1), ("predict_records, 32 rows per call", 32)):
        out[label] = _timed(lambda i, n=size: bundle.predict_records(
            rows_to_frame([rows[(i + k) % len(rows)] for k in range(n)], bundle.signature)), size, duration_s)
    matrix = np.array([[r[c] for c in columns] for r in rows], dtype="float64")
    out["raw booster.predict, 1 row per call"] = _timed(
        lambda i: booster.predict(matrix[i % len(rows):i % len(rows) + 1]), 1, duration_s)
    return out


def _timed(call: Any, rows_per_call: int, duration_s: float) -> dict[str, float]:
    for i in range(20):
        call(i)
    latencies, started, i = [], time.perf_counter(), 0
    while time.perf_counter() - started < duration_s:
        t = time.perf_counter()
        call(i)
        latencies.append((time.perf_counter() - t) * 1e3)
        i += 1
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rows_per_s": round(i * rows_per_call / elapsed, 1), "calls": i,
            "p50_ms": round(latencies[len(latencies) // 2], 3),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)], 3)}


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--mlflow-venv", type=Path, default=Path(os.environ.get("MLFLOW_VENV", "/tmp/tesla-bench-mlflow")))
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--mlflow-workers", type=int, default=1,
                    help="uvicorn workers of mlflow models serve (its default: 1)")
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work: Path = args.workdir
    body = work / "body-1.json"
    shutil.rmtree(work / "capture", ignore_errors=True)
    tesla_url, mlflow_url = "http://127.0.0.1:18401", "http://127.0.0.1:18402"
    tesla = _start([sys.executable, "-m", "tesla.serving", "--bundle", (work / "bundle.txt").read_text().strip(),
                    "--port", "18401", "--model-ref", "bench@1", "--capture-dir", str(work / "capture")],
                   work / "tesla.log")
    mlflow = _start([str(args.mlflow_venv / "bin" / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                     "--env-manager", "local", "-h", "127.0.0.1", "-p", "18402", "-w", str(args.mlflow_workers)],
                    work / "mlflow.log",
                    # as with an activated venv: mlflow execs `uvicorn` from PATH
                    env={"PATH": f"{args.mlflow_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"})
    results: dict[str, Any] = {"machine_before": _machine(), "duration_s": args.duration, "rounds": args.rounds,
                               "mlflow_workers": args.mlflow_workers}
    try:
        _wait_ready(tesla_url, tesla)
        _wait_ready(mlflow_url, mlflow)
        results["agreement"] = same_model(tesla_url, mlflow_url, body)
        for url in (tesla_url, mlflow_url):
            wrk(url, body, 8, 3)  # warm up
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {"tesla": {}, "mlflow": {}}
        for r in range(args.rounds):
            for c in args.concurrency:
                for name, url in (("tesla", tesla_url), ("mlflow", mlflow_url)) if r % 2 == 0 else \
                        (("mlflow", mlflow_url), ("tesla", tesla_url)):
                    run = wrk(url, body, c, args.duration)
                    runs[name].setdefault(c, []).append(run)
                    print(f"round {r + 1} c={c:<3} {name:<6} {run['rps']:9.1f} req/s  p50 {run['p50_ms']:8.2f} ms  "
                          f"p99 {run['p99_ms']:8.2f} ms  errors {run['errors']}", flush=True)
        results["runs"] = runs
        results["median"] = {name: {c: _median(cells) for c, cells in per_c.items()} for name, per_c in runs.items()}
    finally:
        _stop(tesla)
        _stop(mlflow)
    results["in_process"] = in_process(work, min(args.duration, 5))
    results["machine_after"] = _machine()
    captured = sum(1 for f in (work / "capture").glob("predictions-*.jsonl") for _ in f.open())
    results["tesla_captured_rows"] = captured
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def _median(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {**{k: statistics.median(run[k] for run in cells) for k in ("rps", "p50_ms", "p99_ms")},
            "errors": sum(run["errors"] for run in cells)}


def table(results: dict[str, Any]) -> str:
    """The README table: median throughput and latency per concurrency, with the ratios."""
    lines = ["| concurrency | Tesla req/s | MLflow req/s | throughput ratio | Tesla p50 ms | MLflow p50 ms | "
             "Tesla p99 ms | MLflow p99 ms | p99 ratio (Tesla/MLflow) |", "|---|---|---|---|---|---|---|---|---|"]
    med = results["median"]
    for c in sorted(med["tesla"], key=int):
        t, m = med["tesla"][c], med["mlflow"][c]
        lines.append(f"| {c} | {t['rps']:.0f} | {m['rps']:.0f} | {t['rps'] / m['rps']:.2f}x | {t['p50_ms']:.1f} | "
                     f"{m['p50_ms']:.1f} | {t['p99_ms']:.1f} | {m['p99_ms']:.1f} | {t['p99_ms'] / m['p99_ms']:.2f} |")
    lines += ["", "| in-process ceiling (no HTTP) | rows/s | p50 ms | p99 ms |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['rows_per_s']:.0f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} |"
              for k, v in results["in_process"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
