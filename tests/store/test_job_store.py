"""The jobs tables under concurrent writers: several processes appending to one job lose and repeat no event."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tesla.store import Store
from tesla.store.jobs import JobStore
from tesla.store.recovery import Owner
from tesla.wire import encode

WRITERS, EACH = 4, 150

_APPEND = """
import sys
from tesla.store import Store
from tesla.store.jobs import JobStore
from tesla.wire import encode
root, job_id, each, writer = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
jobs = JobStore(Store.open(root).engine, encode)
sys.stdin.readline()  # every writer starts at once
for n in range(each):
    assert jobs.append(job_id, "message", {"writer": writer, "n": n}, progress={"n": n}) is not None
"""

_FINISH = """
import sys
from tesla.store import Store
from tesla.store.jobs import JobStore
from tesla.wire import encode
root, job_id, writer = sys.argv[1], sys.argv[2], sys.argv[3]
jobs = JobStore(Store.open(root).engine, encode)
sys.stdin.readline()
moved = jobs.transition(job_id, "succeeded", from_=("running",), result={"writer": writer})
print("won" if moved else "lost")
"""


def _jobs(project: Path) -> JobStore:
    return JobStore(Store.open(project).engine, encode)


def _race(code: str, *args: str, writers: int) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", code, *args, str(w)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(writers)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = [proc.communicate(timeout=300) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outs]
    return [out.strip() for out, _ in outs]


def test_processes_appending_at_once_lose_no_events(project: Path) -> None:
    jobs = _jobs(project)
    job = jobs.create("training.train", {"model": "m"}, "ann")
    _race(_APPEND, str(project), job.id, str(EACH), writers=WRITERS)
    events = jobs.events(job.id)
    assert [e.seq for e in events] == list(range(1, 2 + WRITERS * EACH))  # the queued status, then every append
    messages = [e.data for e in events if e.kind == "message"]
    for writer in range(WRITERS):  # each writer's events are all there, in the order it wrote them
        assert [m["n"] for m in messages if m["writer"] == writer] == list(range(EACH))
    assert jobs.events(job.id, after=100) == events[100:]


def test_only_one_of_several_finishers_moves_a_job_and_nothing_follows_its_end(project: Path) -> None:
    jobs = _jobs(project)
    job = jobs.create("training.train", {}, None)
    assert jobs.claim(job.id, Owner.me(), limit=2) is not None
    outcomes = _race(_FINISH, str(project), job.id, writers=WRITERS)
    assert sorted(outcomes) == ["lost"] * (WRITERS - 1) + ["won"]
    events = jobs.events(job.id)
    assert [e.data["status"] for e in events] == ["queued", "running", "succeeded"]
    assert jobs.append(job.id, "message", {"text": "late"}) is None  # the terminal status stays the last event
    assert jobs.events(job.id) == events


def test_a_claim_respects_the_worker_limit(project: Path) -> None:
    jobs = _jobs(project)
    first, second = (jobs.create("data.load", {}, None) for _ in range(2))
    assert jobs.claim(first.id, Owner.me(), limit=1) is not None
    assert jobs.claim(second.id, Owner.me(), limit=1) is None  # one runs already: it stays queued
    assert jobs.get(second.id).status == "queued"
    assert jobs.claim(first.id, Owner.me(), limit=5) is None  # not queued any more: nobody claims it twice
    assert [j.id for j in jobs.list()] == [second.id, first.id]  # newest first
    assert [j.id for j, _ in jobs.queued()] == [second.id]
