"""The wall-clock budget of a training run: ``search.time_budget_s`` bounds the whole ``tesla train``.

FLAML's ``time_budget`` bounds only its trials; its final retrain, its stacking and everything Tesla
does after the search (the refit on every row, evaluation, the bundle) come on top. So the search
step plans the budget: the time already spent in this process before the search (start-up, load,
split) is taken off, a share is kept for what follows the search, and FLAML gets the rest. A later
phase (the refit) asks ``Budget.allows`` and is skipped, and says so, when it would end past the
deadline. Goal: the process ends within ``time_budget_s + max(5 %, 2 s)``.

Pure standard library: imported by the step before any ML library.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

__all__ = ["Budget", "process_age_s"]

POST_S = 1.5  # evaluate, register and writing the bundles after the search, seconds
POST_SHARE = 0.03  # plus this share of the budget (bigger data: slower evaluation and bundle writes)
# share of the time left that follows FLAML's trials: its retrain on the training rows and the refit
# on every row (each about one fit of the winner), plus its stacking when search.ensemble is set
AFTER_SEARCH_SHARE = 0.2
AFTER_SEARCH_SHARE_ENSEMBLE = 0.4
MIN_SEARCH_S = 1.0  # FLAML is never given less than this


def process_age_s() -> float | None:
    """Seconds since this process started (Linux ``/proc``), or None where that cannot be read."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Budget:
    """A run's deadline on the monotonic clock, and how the time left is shared out."""

    total_s: float
    deadline: float  # time.monotonic() by which the process should be done

    @classmethod
    def start(cls, total_s: float, *, age_s: float | None = None) -> Budget:
        """The budget of a run whose search starts now.

        A process younger than the budget was started for this run (``tesla train``, a cloud
        step): its age counts against the budget. An older one is long-lived (``tesla server``,
        a notebook): the run's clock starts now.
        """
        age = process_age_s() if age_s is None else age_s
        spent = age if age is not None and age < total_s else 0.0
        return cls(total_s=total_s, deadline=time.monotonic() + total_s - spent)

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def post_s(self) -> float:
        return POST_S + POST_SHARE * self.total_s

    def search_s(self, *, ensemble: bool) -> float:
        """FLAML's ``time_budget``: the time left less what follows the search."""
        share = AFTER_SEARCH_SHARE_ENSEMBLE if ensemble else AFTER_SEARCH_SHARE
        return max(MIN_SEARCH_S, (self.left_s() - self.post_s()) * (1 - share))

    def allows(self, seconds: float) -> bool:
        """Whether a phase of ``seconds`` still ends before the deadline, leaving the post-search share."""
        return seconds <= self.left_s() - self.post_s()
