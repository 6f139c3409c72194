"""Fault injection at write points: prove crash safety by dying exactly where a write happens.

``TESLA_FAULT=load.after_artifact`` makes the process kill itself with SIGKILL (as ``kill -9``
would: no ``finally``, no ``atexit``, no flush) the first time it reaches that point;
``TESLA_FAULT=train.step_recorded:3`` at the third time (the third step, for a per-step point).
Unset, every ``fault_point`` call is one dictionary lookup. ``POINTS`` lists every point, so a
test can iterate over all of them (``tests/reliability/test_crash_safety.py`` does).
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "POINTS", "fault_point"]

ENV = "TESLA_FAULT"

POINTS: tuple[str, ...] = (
    "artifact.staged",            # an artifact's bytes are in tmp/, not yet published (every put)
    "load.after_artifact",        # the dataset file is stored, its version row not yet written
    "load.after_version",         # the version row is committed
    "train.after_run_row",        # the run row says running, no step has started
    "train.step_running",         # a step's row says running (per step)
    "train.step_outputs",         # a step body wrote its outputs in scratch, none stored yet (per step)
    "train.step_stored",          # a step's outputs are stored, its row still says running (per step)
    "train.step_recorded",        # a step's row says succeeded (per step)
    "train.before_run_finished",  # every step succeeded, the run row still says running
    "register.before_model_row",  # the run finished, the model version is not registered yet
    "register.after_model_row",   # the model version row is committed
    "deploy.after_intent",        # the deployment row says starting, no server yet
    "deploy.after_spawn",         # the server process exists (pid recorded), not yet healthy
    "deploy.after_healthy",       # the server answers /health, its row still says starting
    "deploy.after_activate",      # the row says running (and the stage is set), the previous still runs
    "deploy.after_retire",        # the previous server is stopped and its row says replaced
)

_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Kill this process (SIGKILL) when ``$TESLA_FAULT`` names ``name`` (``name`` or ``name:N``)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    assert name in POINTS, f"undeclared fault point {name!r}"
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # pragma: no cover - SIGKILL cannot be caught; only where signals do not exist
