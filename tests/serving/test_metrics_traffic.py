"""Reading a model server's Prometheus text back: samples, histogram quantiles and the served-traffic totals."""

from __future__ import annotations

import pytest

from tesla.serving.metrics import ServingMetrics, histogram_quantile, samples, traffic


def test_samples_read_names_labels_and_values() -> None:
    text = ('# HELP x y\n# TYPE x counter\nx_total{route="/p",note="a \\"q\\" \\\\ b"} 3\n'
            'up 1 1700000000000\nbad line\nno_value{a="b"} not-a-number\nlat_bucket{le="+Inf"} +Inf\n')
    assert list(samples(text)) == [("x_total", {"route": "/p", "note": 'a "q" \\ b'}, 3.0), ("up", {}, 1.0),
                                   ("lat_bucket", {"le": "+Inf"}, float("inf"))]


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    buckets = [(0.01, 0.0), (0.1, 10.0), (1.0, 20.0)]
    assert histogram_quantile(0.5, buckets, 20) == pytest.approx(0.1)
    assert histogram_quantile(0.25, buckets, 20) == pytest.approx(0.055)  # halfway into (0.01, 0.1]
    assert histogram_quantile(0.99, buckets, 25) == 1.0  # beyond the last finite bound: that bound
    assert histogram_quantile(0.5, buckets, 0) is None


def test_traffic_counts_model_routes_and_leaves_probes_out() -> None:
    metrics = ServingMetrics("m@1")
    for seconds in (0.002, 0.004, 0.02, 0.2):
        metrics.observe_request("/predict", 200, seconds)
    metrics.observe_request("/invocations", 422, 0.001)
    metrics.observe_request("/health", 200, 3.0)  # probes: not traffic
    metrics.observe_request("/metrics", 200, 3.0)
    metrics.observe_batch(7, 1)
    metrics.in_flight = 1  # the request reading /metrics
    now = traffic(metrics.render())
    assert (now["requests"], now["errors"], now["rows"], now["in_flight"]) == (5, 1, 7, 0)
    assert now["latency_count"] == 5 and now["latency_sum_s"] == pytest.approx(0.227)
    assert now["latency_ms"]["mean"] == pytest.approx(45.4)
    assert dict(map(tuple, now["latency_buckets"]))[0.005] == 3  # 0.001, 0.002, 0.004
    assert now["latency_ms"]["p50"] <= now["latency_ms"]["p90"] <= now["latency_ms"]["p99"] <= 250


def test_traffic_of_an_idle_server_is_zero() -> None:
    now = traffic(ServingMetrics("m@1").render())
    assert (now["requests"], now["errors"], now["latency_count"], now["latency_ms"]) == (0, 0, 0, {})
