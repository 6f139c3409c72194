"""The wall-clock budget of a training run: ``search.time_budget_s`` bounds the whole ``tesla train``.

FLAML's ``time_budget`` bounds only its trials; its final retrain, its stacking and everything Tesla
does after the search (the refit on every row, evaluation, the bundle) come on top. So the search
step plans the budget: the time already spent in this process before the search (start-up, load,
split) is taken off, ``post_s`` is kept for evaluating and writing, ``explain_s`` for the report's
importance and SHAP values, and FLAML gets the rest less ``hold_s``: what its retrain and the refit
on every row will take, about one fit of the winner each. That is known only once trials are timed,
so the search shrinks FLAML's budget while it runs (``tesla.automl.adapter``); with
``search.ensemble`` a share of the time left is kept instead (its out-of-fold fits are not one fit
of the winner). A later phase (the refit) asks ``Budget.allows`` and is skipped, and says so, when it
would end past the deadline. Goal: the process ends within ``time_budget_s + max(5 %, 2 s)``.

Pure standard library: imported by the step before any ML library.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

__all__ = ["Budget", "process_age_s"]

POST_S = 1.5  # evaluate, register and writing the bundles after the search, seconds
POST_SHARE = 0.03  # plus this share of the budget (bigger data: slower evaluation and bundle writes)
EXPLAIN_SHARE = 0.05  # share of the budget kept for the report's permutation importance and SHAP values
# what follows FLAML's trials, in fits of the winner on the search's rows: FLAML's retrain (one), the
# refit on every row (1.25 times the rows, REFIT_MARGIN 1.3 in tesla.steps.train) and the last trial's
# overrun of FLAML's deadline (about one more)
HOLD_FITS = 3.0
HOLD_S = 0.5  # plus this: measuring each estimator's predict cost, the bundle of the searched model
# where FLAML's budget cannot shrink while it runs (search.ensemble, concurrent trials on Ray Tune), this
# share of the time left is kept for what follows the trials instead
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

    def explain_s(self) -> float:
        return EXPLAIN_SHARE * self.total_s

    def search_s(self, *, ensemble: bool, elastic: bool = True) -> float:
        """FLAML's ``time_budget`` as the search starts: the time left less what follows the search.

        ``elastic``: the search takes ``hold_s`` of the winner's measured fit off this as trials are
        timed, so this is the most FLAML may take; otherwise (and always with ``ensemble``) a share of
        the time left is kept back.
        """
        left = self.left_s() - self.post_s() - self.explain_s()
        if ensemble:
            left *= 1 - AFTER_SEARCH_SHARE_ENSEMBLE
        elif not elastic:
            left *= 1 - AFTER_SEARCH_SHARE
        return max(MIN_SEARCH_S, left - HOLD_S)

    @staticmethod
    def hold_s(fit_s: float) -> float:
        """Seconds to keep after FLAML's trials when one fit of the winner on the search's rows takes ``fit_s``
        (on top of the ``HOLD_S`` that ``search_s`` already kept)."""
        return HOLD_FITS * max(0.0, fit_s)

    def allows(self, seconds: float) -> bool:
        """Whether a phase of ``seconds`` still ends before the deadline, leaving the post-search share."""
        return seconds <= self.left_s() - self.post_s()
