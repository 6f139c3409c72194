"""A metric delta between two models with its confidence interval: plain data, no numpy (results travel over REST)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Delta"]


@dataclass(frozen=True)
class Delta:
    """One metric of two models on the same rows: ``delta = b - a`` with its paired bootstrap interval."""

    metric: str
    a: float
    b: float
    delta: float
    low: float
    high: float
    higher_is_better: bool

    @property
    def verdict(self) -> str:
        if self.low <= 0 <= self.high or not math.isfinite(self.delta):
            return "no clear difference"
        better = (self.delta > 0) == self.higher_is_better
        return "b better" if better else "a better"

    def verdict_for(self, names: tuple[str, str]) -> str:
        """``verdict`` with the two models' names in place of a and b."""
        return {"a better": f"{names[0]} better", "b better": f"{names[1]} better"}.get(self.verdict, self.verdict)
