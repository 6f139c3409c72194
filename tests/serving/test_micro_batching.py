"""Micro-batching: concurrent requests share predict calls, and each caller gets its own rows back in order."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tesla.serving.batching import MicroBatcher
from tesla.serving.payload import rows_to_frame


class _Recorder:
    """A predict function that doubles its inputs and records each call's size and thread."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[int] = []
        self.threads: set[int] = set()
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, rows: list[int]) -> list[int]:
        self.gate.wait(5)
        self.calls.append(len(rows))
        self.threads.add(threading.get_ident())
        if self.fail_on is not None and self.fail_on in rows:
            raise ValueError(f"cannot predict {self.fail_on}")
        return [r * 2 for r in rows]


async def _burst(batcher: MicroBatcher, requests: list[list[int]]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(rows) for rows in requests), return_exceptions=True)


def test_concurrent_requests_share_predict_calls_and_get_their_own_rows() -> None:
    predict = _Recorder()
    requests = [[i * 10 + j for j in range(i % 3 + 1)] for i in range(40)]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch_size=16, max_latency_ms=50)
        try:
            return await _burst(batcher, requests)
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    assert results == [[r * 2 for r in rows] for rows in requests]
    assert sum(predict.calls) == sum(map(len, requests))
    assert len(predict.calls) < len(requests)  # merged
    assert max(predict.calls) <= 16
    assert threading.get_ident() not in predict.threads  # never on the event loop's thread


def test_a_request_is_never_split_and_a_big_one_runs_alone() -> None:
    predict = _Recorder()
    requests = [[1, 2, 3], list(range(100, 140)), [4, 5]]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch_size=8, max_latency_ms=20)
        try:
            return await _burst(batcher, requests)
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    assert results == [[r * 2 for r in rows] for rows in requests]
    assert 40 in predict.calls  # the oversized request, alone and whole


def test_one_failing_request_does_not_fail_its_batch_mates() -> None:
    predict = _Recorder(fail_on=13)
    requests = [[1], [13], [2, 3]]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch_size=64, max_latency_ms=20)
        try:
            return await _burst(batcher, requests)
        finally:
            await batcher.close()

    first, failed, third = asyncio.run(scenario())
    assert first == [2] and third == [4, 6]
    assert isinstance(failed, ValueError) and "cannot predict 13" in str(failed)


def test_a_lone_request_does_not_wait_for_company() -> None:
    predict = _Recorder()

    async def scenario() -> list[int]:
        # a latency budget far longer than the test: had the batcher waited for it, it would time out
        batcher = MicroBatcher(predict, max_batch_size=64, max_latency_ms=60_000)
        try:
            return await asyncio.wait_for(batcher.submit([7]), timeout=30)
        finally:
            await batcher.close()

    assert asyncio.run(scenario()) == [14]


def test_requests_still_being_read_are_waited_for() -> None:
    predict = _Recorder()

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch_size=64, max_latency_ms=60_000)
        batcher.expect()  # a second request is being read...
        first = asyncio.ensure_future(batcher.submit([1]))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not first.done()  # ...so the first waits for it
        batcher.cancel_expect()
        second = batcher.submit([2])
        try:
            return await asyncio.wait_for(asyncio.gather(first, second), timeout=30)
        finally:
            await batcher.close()

    assert asyncio.run(scenario()) == [[2], [4]]
    assert predict.calls == [2]


@pytest.mark.parametrize("max_batch_size", [1, 64])
def test_app_under_concurrency_returns_each_caller_its_rows_in_order(bc_bundle: Bundle, bc_rows: list[dict[str, Any]],
                                                                    max_batch_size: int) -> None:
    app = create_app(bc_bundle, ServingSettings(model_ref="bc_model@1", max_batch_size=max_batch_size,
                                                max_latency_ms=5))
    requests = [bc_rows[i:i + 1 + i % 4] for i in range(0, 96, 2)]  # 48 requests of 1-4 rows, overlapping rows
    expected = [bc_bundle.predict_records(rows_to_frame(rows, bc_bundle.signature)) for rows in requests]

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            return await asyncio.gather(*(client.post("/predict", json={"records": rows},
                                                      headers={"x-request-id": f"r{i}"})
                                          for i, rows in enumerate(requests)))

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * len(requests)
    assert [r.json()["request_id"] for r in responses] == [f"r{i}" for i in range(len(requests))]
    assert [r.json()["predictions"] for r in responses] == expected
    metrics = app.state.metrics
    assert metrics.rows_predicted == sum(map(len, requests))
    if max_batch_size == 64:
        assert metrics.batch_rows.n < len(requests)  # some requests shared a predict call
    else:
        assert metrics.batch_rows.n == len(requests)


def test_with_workers_a_big_request_is_split_into_chunks_predicted_in_parallel() -> None:
    predict = _Recorder()
    predict.gate.clear()  # hold every call until both chunks are inside predict at once
    inside: list[int] = []
    original = predict.__call__

    def counting(rows: list[int]) -> list[int]:
        inside.append(len(rows))
        if len(inside) >= 2:
            predict.gate.set()
        return original(rows)

    requests = [list(range(100)), [7]]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(counting, max_batch_size=64, max_latency_ms=20, workers=2)
        try:
            return await _burst(batcher, requests)
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    assert results == [[r * 2 for r in rows] for rows in requests]  # whole, in order
    assert sorted(predict.calls)[-2:] == [50, 50]  # even chunks, at most max_batch_size each
    assert len(predict.threads) == 2  # the chunks ran side by side (the gate needed both at once)


def test_with_workers_a_failing_chunk_fails_only_its_request() -> None:
    predict = _Recorder(fail_on=90)
    requests = [list(range(100)), [1, 2]]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch_size=32, max_latency_ms=5, workers=3)
        try:
            return await _burst(batcher, requests)
        finally:
            await batcher.close()

    big, small = asyncio.run(scenario())
    assert isinstance(big, ValueError) and "cannot predict 90" in str(big)
    assert small == [2, 4]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1; got 0"):
        MicroBatcher(lambda rows: rows, workers=0)
