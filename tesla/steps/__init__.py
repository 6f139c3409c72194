"""Portable step bodies: the only place ML logic runs.

A step body is a plain function of a ``StepContext`` (its params, its input paths and the
directory it writes its outputs to) returning a small JSON result. The same function runs
in-process for the local backend and inside a cloud container through
``python -m tesla.steps --plan plan.json --step ID``. Step bodies never read config.

Output convention: output ``name`` is written to ``ctx.outdir / name`` (a file or a
directory). An output named ``trials`` is a JSON list of trial rows and is recorded in the
store's trial table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tesla.errors import PlanError
from tesla.plan import Step

__all__ = ["STEP_KINDS", "StepContext", "run_step"]

# kind -> "module:function"; imported when the step runs, so compiling stays light
STEP_KINDS: dict[str, str] = {
    "load": "tesla.steps.data:load",
    "split": "tesla.steps.data:split",
    "search": "tesla.steps.train:search",
    "evaluate": "tesla.steps.evaluate:evaluate",
    "register": "tesla.steps.train:register",
}


@dataclass
class StepContext:
    """Everything a step body may use.

    Attributes:
        step: the plan step (``params`` holds every setting the body needs).
        inputs: input name -> local path (a file, or a directory for bundles).
        outdir: directory to write outputs into, one entry per output name.
        progress: callback for progress dicts (trials done, best loss...).
    """

    step: Step
    inputs: Mapping[str, Path]
    outdir: Path
    progress: Callable[[dict[str, Any]], None] = field(default=lambda _d: None)

    @property
    def params(self) -> Mapping[str, Any]:
        return self.step.params

    def input_file(self, name: str) -> Path:
        """The input as one file (a directory holding a single file is unwrapped)."""
        path = Path(self.inputs[name])
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            if len(files) != 1:
                raise PlanError(f"step '{self.step.id}' expected one file for input '{name}', "
                                f"found {len(files)} in {path}", step=self.step.id)
            return files[0]
        return path

    def input_dir(self, name: str) -> Path:
        return Path(self.inputs[name])

    def output(self, name: str) -> Path:
        if name not in self.step.outputs:
            raise PlanError(f"step '{self.step.id}' does not declare output '{name}'", step=self.step.id)
        return self.outdir / name


def run_step(ctx: StepContext) -> dict[str, Any]:
    """Run the body of ``ctx.step`` and check it wrote every declared output."""
    target = STEP_KINDS.get(ctx.step.kind)
    if target is None:
        raise PlanError(f"unknown step kind '{ctx.step.kind}'; known: {', '.join(sorted(STEP_KINDS))}",
                        step=ctx.step.id)
    module, _, func = target.partition(":")
    ctx.outdir.mkdir(parents=True, exist_ok=True)
    result = getattr(importlib.import_module(module), func)(ctx) or {}
    missing = [n for n in ctx.step.outputs if not (ctx.outdir / n).exists()]
    if missing:
        raise PlanError(f"step '{ctx.step.id}' did not write output(s): {', '.join(missing)}",
                        step=ctx.step.id)
    return result
