"""Prometheus metrics of one model server, kept in-process and rendered as text format 0.0.4.

Hand-written rather than prometheus-client: a few counters and two histograms, updated on the
event loop only (no locks), and the server needs no extra dependency.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["ServingMetrics"]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


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
