"""Prometheus metrics of one model server, kept in-process and rendered as text format 0.0.4.

Hand-written rather than prometheus-client: a few counters and two histograms, updated on the
event loop only (no locks), and the server needs no extra dependency. ``traffic`` reads that text back
(``tesla server`` charts a running deployment from it).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROBE_ROUTES", "ServingMetrics", "histogram_quantile", "samples", "traffic"]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# routes that look at a server rather than use its model: not traffic (``traffic`` leaves them out)
PROBE_ROUTES = frozenset({"/health", "/ping", "/metrics", "/schema", "/openapi.json", "/v2", "/v2/health/ready",
                          "/v2/health/live", "/v2/models/{name}"})


@dataclass
class _Histogram:
    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip([*map(repr, self.bounds), "+Inf"], self.counts):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        suffix = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{suffix} {self.total}", f"{name}_count{suffix} {self.n}"]
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ServingMetrics:
    """Request counts, latency, errors, batch sizes, capture drops and the model version."""

    def __init__(self, model_ref: str) -> None:
        self.model_ref = model_ref
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.errors: dict[str, int] = {}
        self.batch_rows = _Histogram(BATCH_BUCKETS)
        self.batch_requests = _Histogram(BATCH_BUCKETS)
        self.rows_predicted = 0
        self.in_flight = 0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}  # name -> (help, read)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(route)
        if hist is None:
            hist = self.latency[route] = _Histogram(LATENCY_BUCKETS_S)
        hist.observe(seconds)

    def observe_error(self, type_: str) -> None:
        self.errors[type_] = self.errors.get(type_, 0) + 1

    def observe_batch(self, rows: int, requests: int) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)
        self.rows_predicted += rows

    def render(self) -> str:
        """The metrics in Prometheus text format."""
        name, _, version = self.model_ref.partition("@")
        lines = ["# HELP tesla_model_info The model this server serves.", "# TYPE tesla_model_info gauge",
                 f'tesla_model_info{{model="{_escape(self.model_ref)}",name="{_escape(name)}",'
                 f'version="{_escape(version)}"}} 1',
                 "# HELP tesla_requests_total HTTP requests by route and status.",
                 "# TYPE tesla_requests_total counter"]
        lines += [f'tesla_requests_total{{route="{_escape(r)}",status="{s}"}} {n}'
                  for (r, s), n in sorted(self.requests.items())]
        lines += ["# HELP tesla_request_duration_seconds Time from request start to response, by route.",
                  "# TYPE tesla_request_duration_seconds histogram"]
        for route, hist in sorted(self.latency.items()):
            lines += hist.lines("tesla_request_duration_seconds", f'route="{_escape(route)}"')
        lines += ["# HELP tesla_errors_total Failed requests by error type.", "# TYPE tesla_errors_total counter"]
        lines += [f'tesla_errors_total{{type="{_escape(t)}"}} {n}' for t, n in sorted(self.errors.items())]
        lines += ["# HELP tesla_batch_rows Rows per predict call (micro-batching).",
                  "# TYPE tesla_batch_rows histogram", *self.batch_rows.lines("tesla_batch_rows"),
                  "# HELP tesla_batch_requests Requests merged into one predict call.",
                  "# TYPE tesla_batch_requests histogram", *self.batch_requests.lines("tesla_batch_requests"),
                  "# HELP tesla_rows_predicted_total Rows predicted.", "# TYPE tesla_rows_predicted_total counter",
                  f"tesla_rows_predicted_total {self.rows_predicted}",
                  "# HELP tesla_in_flight_requests Requests being served now.",
                  "# TYPE tesla_in_flight_requests gauge", f"tesla_in_flight_requests {self.in_flight}"]
        for gauge, (help_, read) in sorted(self.gauges.items()):
            kind = "counter" if gauge.endswith("_total") else "gauge"
            lines += [f"# HELP {gauge} {help_}", f"# TYPE {gauge} {kind}", f"{gauge} {read()}"]
        return "\n".join(lines) + "\n"


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in Prometheus text format; comments and lines that are no
    sample are skipped."""
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)  # "+Inf", "NaN" included
        except ValueError:
            continue
        found = {k: re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m[0]], v) for k, v in _LABEL.findall(labels or "")}
        yield name, found, number


def _finite(text: str | None) -> bool:
    try:
        return text is not None and abs(float(text)) < float("inf")
    except ValueError:
        return False


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]], count: float) -> float | None:
    """The ``q`` quantile of a histogram from its cumulative ``(upper bound, count)`` buckets (finite bounds,
    ascending) and its total ``count``, interpolated within the bucket as Prometheus does; None when empty.
    A quantile beyond the last finite bound is that bound."""
    if count <= 0:
        return None
    rank, low, below = q * count, 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if cumulative == below:
                return bound
            return low + (bound - low) * (rank - below) / (cumulative - below)
        low, below = bound, cumulative
    return buckets[-1][0] if buckets else None


def traffic(text: str) -> dict[str, Any]:
    """The served traffic in a model server's ``/metrics`` text, totals since it started: ``requests`` and
    ``errors`` (answered 4xx or 5xx) on its model routes (``PROBE_ROUTES`` left out), ``rows`` predicted,
    ``in_flight`` (besides the ``/metrics`` request that read ``text``), and their latency: ``latency_sum_s``,
    ``latency_count``, ``latency_buckets`` (cumulative
    ``[upper bound s, count]``, finite bounds) and ``latency_ms`` (mean, p50, p90, p99)."""
    requests = errors = rows = in_flight = 0.0
    latency_sum = latency_count = 0.0
    buckets: dict[float, float] = {}
    for name, labels, value in samples(text):
        if labels.get("route") in PROBE_ROUTES:
            continue
        if name == "tesla_requests_total":
            requests += value
            errors += value if labels.get("status", "").startswith(("4", "5")) else 0
        elif name == "tesla_request_duration_seconds_bucket" and _finite(labels.get("le")):
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
        elif name == "tesla_request_duration_seconds_sum":
            latency_sum += value
        elif name == "tesla_request_duration_seconds_count":
            latency_count += value
        elif name == "tesla_rows_predicted_total":
            rows = value
        elif name == "tesla_in_flight_requests":
            in_flight = value
    ordered = sorted(buckets.items())
    latency_ms = {"mean": latency_sum / latency_count * 1000} if latency_count else {}
    for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        value = histogram_quantile(q, ordered, latency_count)
        if value is not None:
            latency_ms[label] = value * 1000
    return {"requests": int(requests), "errors": int(errors), "rows": int(rows),
            "in_flight": max(int(in_flight) - 1, 0),  # the request that read the text is not traffic
            "latency_sum_s": latency_sum, "latency_count": int(latency_count),
            "latency_buckets": [[bound, int(n)] for bound, n in ordered], "latency_ms": latency_ms}
