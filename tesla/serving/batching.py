"""Adaptive micro-batching: concurrent requests share one predict call, off the event loop.

Each request hands its rows to ``MicroBatcher.submit`` and awaits its own results. One
batcher task takes the first waiting request, adds every other one already queued, and
waits up to ``max_latency_ms`` for more only while other requests are still being read
and validated (``arriving``) — so a lone caller never waits for company that is not
coming, and under load the batch grows to ``max_batch_size`` rows by itself while the
previous batch is predicting. The batch runs as ONE call in a worker thread; results are
split back to each caller in order. A request is never split across batches.

With ``workers=N`` up to N predict calls run at once, each in its own thread (the learners'
native code releases the GIL), and a request above ``max_batch_size`` rows is cut into even
chunks of at most that size that run side by side: 100 rows on 2 workers take about the time
of 50. With one worker (the default) a big request runs alone, whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["MicroBatcher"]

PredictFn = Callable[[list[Any]], Sequence[Any]]


@dataclass
class _Job:
    rows: list[Any]
    future: asyncio.Future[list[Any]]


class MicroBatcher:
    """Merge concurrent ``submit`` calls into batched ``predict`` calls.

    Args:
        predict: rows -> one result per row; runs in a worker thread, never on the event loop.
        max_batch_size: most rows in one predict call (a bigger request still runs, alone).
        max_latency_ms: longest the first request of a batch waits for others to join.
        on_batch: called on the event loop with (rows, requests) of each predict call (metrics).
        workers: most predict calls running at once (threads); above 1 a request over
            ``max_batch_size`` rows is split into chunks predicted in parallel.
    """

    def __init__(self, predict: PredictFn, *, max_batch_size: int = 64, max_latency_ms: float = 2.0,
                 on_batch: Callable[[int, int], None] | None = None, workers: int = 1) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1; got {max_batch_size}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1; got {workers}")
        self.predict = predict
        self.workers = workers
        self.max_batch_size = max_batch_size
        self.max_latency_s = max(0.0, max_latency_ms) / 1000.0
        self.on_batch = on_batch
        self.arriving = 0  # requests being read/validated that will submit soon
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._carry: _Job | None = None  # a job that did not fit the previous batch
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None  # one per worker: predict calls in flight
        self._running: set[asyncio.Task[None]] = set()
        self._holding = False

    # -- request side --------------------------------------------------------------------------
    def expect(self) -> None:
        """A request started that will probably submit: worth waiting for while batching."""
        self.arriving += 1

    def cancel_expect(self) -> None:
        """The request announced by ``expect`` will not submit (it failed validation)."""
        self.arriving = max(0, self.arriving - 1)

    async def submit(self, rows: list[Any]) -> list[Any]:
        """Predict ``rows`` as part of a batch; results in the same order.

        Raises:
            Exception: whatever ``predict`` raised for these rows.
        """
        self._ensure_running()
        assert self._queue is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(rows, future))
        return await future

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (test clients make one per call)
            self._loop, self._queue, self._carry, self._task = loop, asyncio.Queue(), None, None
            self._slots, self._running = asyncio.Semaphore(self.workers), set()
        if self._task is None or self._task.done():
            self._executor = self._executor or ThreadPoolExecutor(self.workers, thread_name_prefix="tesla-predict")
            self._task = loop.create_task(self._run(), name="tesla-batcher")

    async def close(self) -> None:
        """Finish the queued requests, then stop the batcher task and its thread."""
        ours = self._loop is asyncio.get_running_loop()  # a task of another (finished) loop cannot be awaited
        if self._queue is not None and ours:
            while ((not self._queue.empty() or self._carry is not None or self._holding) and self._task
                   and not self._task.done()):
                await asyncio.sleep(0.005)
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            if ours:
                try:
                    await self._task
                except asyncio.CancelledError:
                    pass
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- the batcher task ------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._queue is not None and self._slots is not None
        while True:
            first = self._carry or await self._queue.get()
            self._carry = None
            self._holding = True  # taken from the queue, not yet predicting: close() waits for it
            if self.workers == 1:  # one call at a time, awaited here: no task or semaphore per batch
                await self._execute(await self._gather(first))
            elif len(first.rows) > self.max_batch_size:
                await self._split(first)
            else:
                await self._slots.acquire()  # gather once a worker is free: batches fill while others predict
                self._launch(await self._gather(first))
            self._holding = False

    def _launch(self, jobs: list[_Job]) -> None:
        """Predict ``jobs`` in a worker (its slot is already taken; released when done)."""
        assert self._loop is not None and self._slots is not None
        slots = self._slots

        async def run() -> None:
            try:
                await self._execute(jobs)
            finally:
                slots.release()

        task = self._loop.create_task(run(), name="tesla-predict-batch")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _split(self, job: _Job) -> None:
        """Predict an oversized request as even chunks of at most ``max_batch_size`` rows, side by side."""
        assert self._loop is not None and self._slots is not None
        n = -(-len(job.rows) // self.max_batch_size)
        size = -(-len(job.rows) // n)
        parts = [_Job(job.rows[i:i + size], self._loop.create_future()) for i in range(0, len(job.rows), size)]
        for part in parts:
            await self._slots.acquire()
            self._launch([part])

        async def join() -> None:
            outcomes = await asyncio.gather(*(part.future for part in parts), return_exceptions=True)
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failed is not None:
                _resolve(job, exc=failed)
            else:
                _resolve(job, result=[row for rows in outcomes for row in rows])  # type: ignore[union-attr]

        task = self._loop.create_task(join(), name="tesla-predict-join")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _gather(self, first: _Job) -> list[_Job]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        jobs, rows = [first], len(first.rows)
        deadline = loop.time() + self.max_latency_s
        yields = 2  # let requests whose bytes already arrived reach submit() before deciding
        while rows < self.max_batch_size:
            if self._queue.empty():
                if yields:
                    yields -= 1
                    await asyncio.sleep(0)
                    continue
                remaining = deadline - loop.time()
                if self.arriving <= 0 or remaining <= 0:
                    break  # nobody else is on the way, or the first caller has waited enough
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                job = self._queue.get_nowait()
            if rows + len(job.rows) > self.max_batch_size:
                self._carry = job  # first in the next batch: order of arrival is kept
                break
            jobs.append(job)
            rows += len(job.rows)
        return jobs

    async def _execute(self, jobs: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        rows = [row for job in jobs for row in job.rows]
        if self.on_batch is not None:
            self.on_batch(len(rows), len(jobs))
        try:
            results = await loop.run_in_executor(self._executor, self.predict, rows)
            if len(results) != len(rows):
                raise RuntimeError(f"predict returned {len(results)} results for {len(rows)} rows")
        except Exception as exc:  # noqa: BLE001 - handed to the callers, not swallowed
            if len(jobs) == 1:
                _resolve(jobs[0], exc=exc)
            else:  # find the request that broke the batch; the others still get answers
                for job in jobs:
                    await self._execute([job])
            return
        start = 0
        for job in jobs:
            _resolve(job, result=list(results[start:start + len(job.rows)]))
            start += len(job.rows)


def _resolve(job: _Job, *, result: list[Any] | None = None, exc: BaseException | None = None) -> None:
    if job.future.done():  # the caller went away (client disconnected)
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result or [])
