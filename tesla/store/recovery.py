"""Recovery after a crash: what a process killed mid-write (``kill -9``, power loss) left behind.

Every run and every deployment being started holds a *lease*: the host, pid and process start
time of the process doing the work. When ``Store.open`` finds a lease of this host whose process
is gone, that work was interrupted: the run and its running steps are marked ``interrupted``,
the deployment that never became healthy is dropped (its server, if one was started, is
stopped), and scratch space nobody alive owns is removed. Work of other hosts sharing a
database is left alone: only they can tell whether their process still lives.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tesla.store import metadata as t

if TYPE_CHECKING:
    from tesla.store import Store

__all__ = ["SCRATCH_DIR", "Owner", "recover"]

SCRATCH_DIR = "scratch"  # under the state dir: scratch/<run id>/<step>-*, removed when the run ends
_recovered: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Owner:
    """A process that may hold a lease: host name, pid and its start time (a guard against pid reuse)."""

    host: str
    pid: int
    started: str  # /proc/<pid>/stat start time; "" where the platform does not tell

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), _process_start(os.getpid()))

    def alive(self) -> bool:
        """Whether the process still runs (only answerable for this host's processes: True otherwise)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: it exists
        now = _process_start(self.pid)
        return now != "zombie" and (not self.started or now == self.started)


def _process_start(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces and parentheses
    return "zombie" if fields[0] in ("Z", "X") else fields[19]


def recover(store: Store) -> None:
    """Settle what dead processes of this host left behind (once per process and store)."""
    key = (store.db_url, str(store.state_dir))
    if key in _recovered:
        return
    _recovered.add(key)
    live_here = _settle_runs(store)
    _settle_deployments(store)
    with store.engine.connect() as c:
        running = set(c.execute(sa.select(t.runs.c.id).where(t.runs.c.status == "running")).scalars())
    _clean_scratch(Path(store.state_dir), running, live_here)
    store.artifacts.remove_abandoned(lambda pid: Owner(socket.gethostname(), pid, "").alive())


def _dead_leases(store: Store, kind: str) -> tuple[list[str], set[str]]:
    """(refs whose holder died, refs whose holder lives) among this host's leases of ``kind``."""
    with store.engine.connect() as c:
        rows = c.execute(sa.select(t.leases).where(t.leases.c.kind == kind,
                                                   t.leases.c.host == socket.gethostname())).all()
    dead, live = [], set()
    for row in rows:
        (live.add(row.ref) if Owner(row.host, row.pid, row.started).alive() else dead.append(row.ref))
    return dead, live


def _settle_runs(store: Store) -> set[str]:
    dead, live = _dead_leases(store, "run")
    for run_id in dead:
        with store.engine.begin() as c:
            c.execute(t.runs.update().where(t.runs.c.id == run_id, t.runs.c.status == "running").values(
                status="interrupted", ended_at=sa.func.current_timestamp(),
                error="interrupted: the process running it was killed; run the same command again"))
            c.execute(t.steps.update().where(t.steps.c.run_id == run_id, t.steps.c.status == "running")
                      .values(status="interrupted"))
            c.execute(t.leases.delete().where(t.leases.c.kind == "run", t.leases.c.ref == run_id))
    return live


def _settle_deployments(store: Store) -> None:
    """A deployment still ``starting`` when its deployer died never served: stop its server, drop its row."""
    dead, _ = _dead_leases(store, "deployment")
    for ref in dead:
        with store.engine.begin() as c:
            row = c.execute(sa.select(t.deployments).where(t.deployments.c.id == int(ref))).first()
            if row is not None and row.status == "starting":
                _stop_orphan(row.pid)
                c.execute(t.deployments.delete().where(t.deployments.c.id == row.id))
            c.execute(t.leases.delete().where(t.leases.c.kind == "deployment", t.leases.c.ref == ref))


def _stop_orphan(pid: int | None) -> None:
    """Stop the server a dead deployer spawned (in its own session, it outlived the deployer)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if pid else b""
    except OSError:
        return  # gone already (or no /proc here: then it is left to `kill`)
    if b"tesla.serving" in cmdline:  # still the server, not a process that reused its pid
        from tesla.serving.process import stop_server

        stop_server(pid)  # waits: a fixed port is free again once this returns


def _clean_scratch(state_dir: Path, running: set[str], live_here: set[str]) -> None:
    """Remove scratch space no running run owns: scratch/<run id>/ and the older layout's tesla-* dirs."""
    root = state_dir / SCRATCH_DIR
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name not in running:
            shutil.rmtree(path, ignore_errors=True)
    if not live_here:  # the older layout names no run: only safe to remove when nothing runs here
        for path in state_dir.glob("tesla-*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
