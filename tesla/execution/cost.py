"""Cost estimates and the budget guard shared by the cloud backends.

Prices come from ``conf/prices.yaml`` (shipped with Tesla), with a project's own
``conf/prices.yaml`` replacing entries one by one. An estimate is an upper bound: each job
is priced at its instance's hourly rate times its *maximum* runtime times its instance
count, so a plan that passes the guard cannot cost more than the guard allowed unless the
price table is wrong. A sweep costs its one-point estimate times the number of points.

A backend builds ``CostLine`` s in ``Backend.estimate_cost`` and returns
``CostEstimate(...).to_dict()``; ``tesla.api`` turns the dict back with
``CostEstimate.from_dict`` and calls ``check_budget`` before anything is submitted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tesla.errors import ConfigError

__all__ = [
    "PRICES_FILE",
    "CostEstimate",
    "CostLine",
    "check_budget",
    "default_prices_path",
    "job_line",
    "load_prices",
]

PRICES_FILE = "prices.yaml"


def default_prices_path() -> Path:
    """The price table shipped with Tesla (``conf/prices.yaml`` inside the package)."""
    # tesla.execution may not import tesla.config (import-linter), so locate conf/ from here
    return Path(__file__).resolve().parent.parent / "conf" / PRICES_FILE


def _read_table(path: Path) -> dict[str, Any]:
    import yaml  # lazy: only dry runs and cloud submits price anything

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"price table '{path}' cannot be read ({reason}{where}); fix its YAML or delete it "
                          "to use Tesla's defaults", key=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"price table '{path}' must map backend -> {{training: {{TYPE: USD_PER_HOUR}}}}; "
                          f"got {type(data).__name__}", key=str(path))
    return data


def _section(data: Mapping[str, Any], backend: str, kind: str, path: Path) -> dict[str, float]:
    section = (data.get(backend) or {}).get(kind) or {}
    out: dict[str, float] = {}
    for name, price in section.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise ConfigError(f"price of '{name}' in '{path}' ({backend}.{kind}) must be a number of USD per "
                              f"hour >= 0; got {price!r}", key=f"{backend}.{kind}.{name}")
        out[str(name)] = float(price)
    return out


def load_prices(backend: str, *, project_dir: str | os.PathLike[str] | None = None,
                kind: str = "training") -> dict[str, float]:
    """Instance type -> USD per hour for one backend.

    Args:
        backend: the backend name, a top-level key of the table (``sagemaker``, ``vertex``).
        project_dir: a project whose ``conf/prices.yaml`` overrides the shipped entries.
        kind: ``training`` (jobs) or ``hosting`` (endpoints).

    Returns:
        The merged table: the project's entries replace the shipped ones one by one.

    Raises:
        ConfigError: a table is not valid YAML or holds a price that is not a number.
    """
    paths = [default_prices_path()]
    if project_dir is not None:
        paths.append(Path(project_dir) / "conf" / PRICES_FILE)
    prices: dict[str, float] = {}
    for path in paths:
        if path.is_file():
            prices.update(_section(_read_table(path), backend, kind, path))
    return prices


@dataclass(frozen=True)
class CostLine:
    """One priced item: a job (or endpoint) on ``count`` instances for up to ``hours``.

    ``usd`` is None when ``resource`` has no price in the table.
    """

    step: str
    resource: str
    count: int
    hours: float
    usd_per_hour: float | None
    note: str = ""

    @property
    def usd(self) -> float | None:
        if self.usd_per_hour is None:
            return None
        return round(self.usd_per_hour * self.hours * self.count, 4)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "resource": self.resource, "count": self.count, "hours": self.hours,
                "usd_per_hour": self.usd_per_hour, "usd": self.usd, "note": self.note}


def job_line(step: str, resource: str, *, count: int, max_runtime_s: float,
             prices: Mapping[str, float], note: str = "") -> CostLine:
    """Price one job: ``prices[resource]`` x ``max_runtime_s`` x ``count`` (None when unpriced)."""
    return CostLine(step=step, resource=resource, count=count, hours=round(max_runtime_s / 3600.0, 4),
                    usd_per_hour=prices.get(resource), note=note)


@dataclass(frozen=True)
class CostEstimate:
    """The upper-bound cost of a plan on one backend (times ``points`` for a sweep)."""

    backend: str
    lines: tuple[CostLine, ...] = ()
    points: int = 1
    currency: str = "USD"
    basis: str = field(default="instance price x max runtime x instance count")

    @property
    def unpriced(self) -> tuple[str, ...]:
        """Resources with no price in the table (their cost is unknown, not zero)."""
        return tuple(sorted({line.resource for line in self.lines if line.usd is None}))

    @property
    def usd(self) -> float:
        """Total of the priced lines, times the number of sweep points."""
        one = sum(line.usd for line in self.lines if line.usd is not None)
        return round(one * self.points, 4)

    def without(self, steps: set[str]) -> CostEstimate:
        """The estimate less the lines of ``steps`` (cached steps do not run, so cost nothing)."""
        return replace(self, lines=tuple(line for line in self.lines if line.step not in steps))

    def times(self, points: int) -> CostEstimate:
        """The estimate of a sweep that runs this plan ``points`` times."""
        if points < 1:
            raise ConfigError(f"a sweep has at least 1 point; got {points}", key="multirun")
        return replace(self, points=points)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "usd": self.usd, "currency": self.currency, "points": self.points,
                "basis": self.basis, "unpriced": list(self.unpriced),
                "lines": [line.to_dict() for line in self.lines]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostEstimate:
        lines = tuple(CostLine(step=d["step"], resource=d["resource"], count=int(d["count"]),
                               hours=float(d["hours"]), usd_per_hour=d.get("usd_per_hour"), note=d.get("note", ""))
                      for d in data.get("lines", ()))
        return cls(backend=str(data.get("backend", "")), lines=lines, points=int(data.get("points", 1)))


def _describe(lines: Sequence[CostLine]) -> str:
    jobs = sum(1 for line in lines if line.step)
    kinds = sorted({line.resource for line in lines})
    hours = max((line.hours for line in lines), default=0.0)
    return f"{jobs} job(s) on {', '.join(kinds)} for up to {hours:g} h each"


def check_budget(estimate: CostEstimate, max_usd: float | None, *, what: str,
                 key: str = "backend.max_usd") -> None:
    """Refuse a plan whose upper-bound cost is above ``max_usd`` (no limit when None).

    Args:
        estimate: the plan's estimate (already multiplied out for a sweep).
        max_usd: the budget; None means no guard.
        what: the plan or sweep named in the message, e.g. ``plan 'train/churn'``.
        key: the config key that holds the budget.

    Raises:
        ConfigError: the estimate is above the budget, or an instance has no price so the
            budget cannot be checked.
    """
    if max_usd is None:
        return
    if estimate.unpriced:
        raise ConfigError(f"cannot check {key}={max_usd:g} for {what}: no price for "
                          f"{', '.join(estimate.unpriced)} in conf/{PRICES_FILE}; add it under "
                          f"'{estimate.backend}: training:' in your project's conf/{PRICES_FILE}", key=key)
    if estimate.usd > max_usd:
        sweep = f" x {estimate.points} sweep points" if estimate.points > 1 else ""
        raise ConfigError(f"{what} may cost up to ${estimate.usd:.2f} ({_describe(estimate.lines)}{sweep}), above "
                          f"{key}={max_usd:g}; raise {key}, lower backend.max_runtime_s or pick a cheaper "
                          "instance type", key=key)
