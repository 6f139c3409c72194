"""The execution plan: the only contract between compile time and run time.

A ``Plan`` is a DAG of ``Step`` s. Each step names its kind (the step body to run), its
params (plain JSON), its input artifacts (outputs of upstream steps, or content-addressed
artifacts such as a dataset version) and the outputs it writes. Each step carries a
fingerprint: the sha256 of its kind, params, input hashes/upstream fingerprints and the
Tesla version, so an unchanged step can be skipped.

The plan serialises to canonical JSON (sorted keys, no timestamps, no machine paths): the
same config always gives the same bytes.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tesla._version import __version__
from tesla.errors import PlanError

__all__ = ["PLAN_SCHEMA_VERSION", "ArtifactRef", "Plan", "Step", "canonical_json", "sha256_text"]

PLAN_SCHEMA_VERSION = 1


def canonical_json(data: Any, *, indent: int | None = 2) -> str:
    """Serialise ``data`` deterministically: sorted keys, no NaN, UTF-8 kept readable."""
    try:
        text = json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False,
                          allow_nan=False, separators=(",", ": ") if indent else (",", ":"))
    except (TypeError, ValueError) as exc:
        raise PlanError(f"plan data is not plain JSON ({exc}); step params may only hold "
                        "str, int, float, bool, None, lists and dicts") from exc
    return text + ("\n" if indent else "")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ArtifactRef:
    """Where a step input comes from.

    Either the output ``output`` of the upstream step ``step``, or (``step`` is None) an
    artifact already in the content-addressed store, named by its ``sha256``.
    """

    output: str
    step: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.step is None) == (self.sha256 is None):
            raise PlanError(f"artifact '{self.output}' must name exactly one of a producing "
                            "step or a sha256")

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "step": self.step, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactRef:
        return cls(output=data["output"], step=data.get("step"), sha256=data.get("sha256"))


@dataclass(frozen=True, eq=True)
class Step:
    """One node of the plan: a step body (``kind``) applied to params and inputs."""

    id: str
    kind: str
    params: Mapping[str, Any]
    inputs: Mapping[str, ArtifactRef]
    outputs: tuple[str, ...]
    fingerprint: str
    # "any": runs wherever the backend places compute; "control": runs where the plan is driven
    placement: str = "any"

    __hash__ = None  # type: ignore[assignment]  # params are mutable mappings

    @classmethod
    def create(cls, id: str, kind: str, params: Mapping[str, Any], *,
               inputs: Mapping[str, ArtifactRef] | None = None,
               outputs: Sequence[str] = (), upstream: Mapping[str, Step] | None = None,
               placement: str = "any") -> Step:
        """Build a step and compute its fingerprint from its content and its upstream steps."""
        inputs = dict(inputs or {})
        upstream = upstream or {}
        origins = {}
        for name, ref in sorted(inputs.items()):
            if ref.step is None:
                origins[name] = f"sha256:{ref.sha256}"
            elif ref.step in upstream:
                origins[name] = f"step:{upstream[ref.step].fingerprint}:{ref.output}"
            else:
                raise PlanError(f"step '{id}' reads '{name}' from unknown step '{ref.step}'")
        body = {"kind": kind, "params": dict(params), "inputs": origins, "tesla": __version__}
        fingerprint = sha256_text(canonical_json(body, indent=None))
        return cls(id=id, kind=kind, params=dict(params), inputs=inputs,
                   outputs=tuple(outputs), fingerprint=fingerprint, placement=placement)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "params": dict(self.params),
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "outputs": list(self.outputs), "fingerprint": self.fingerprint,
            "placement": self.placement,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(id=data["id"], kind=data["kind"], params=dict(data["params"]),
                   inputs={k: ArtifactRef.from_dict(v) for k, v in data["inputs"].items()},
                   outputs=tuple(data["outputs"]), fingerprint=data["fingerprint"],
                   placement=data.get("placement", "any"))


@dataclass(frozen=True)
class Plan:
    """A deterministic DAG of steps plus what is needed to place them.

    Attributes:
        name: what the plan does, e.g. ``train/my_model``.
        steps: the steps in topological order.
        backend: the backend name and its settings (plain JSON).
        meta: plain-JSON facts about the run shown to users (model, dataset, sweep point).
    """

    name: str
    steps: tuple[Step, ...]
    backend: Mapping[str, Any] = field(default_factory=lambda: {"name": "local"})
    meta: Mapping[str, Any] = field(default_factory=dict)
    tesla_version: str = __version__

    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise PlanError(f"plan '{self.name}' has duplicate step ids: {', '.join(dupes)}")
        graph = {s.id: {r.step for r in s.inputs.values() if r.step} for s in self.steps}
        for sid, deps in graph.items():
            missing = deps - set(graph)
            if missing:
                raise PlanError(f"step '{sid}' depends on unknown step(s): {', '.join(sorted(missing))}")
        try:
            list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            raise PlanError(f"plan '{self.name}' has a cycle: {' -> '.join(exc.args[1])}") from exc
        position = {sid: i for i, sid in enumerate(ids)}
        late = [f"{sid} (needs {dep})" for sid, deps in graph.items() for dep in sorted(deps)
                if position[dep] > position[sid]]
        if late:
            raise PlanError(f"plan '{self.name}' lists steps before their inputs: {', '.join(late)}")

    def ordered(self) -> list[Step]:
        """The steps in a stable topological order (ties broken by position)."""
        by_id = {s.id: s for s in self.steps}
        position = {s.id: i for i, s in enumerate(self.steps)}
        sorter = graphlib.TopologicalSorter(
            {s.id: {r.step for r in s.inputs.values() if r.step} for s in self.steps})
        sorter.prepare()
        out: list[Step] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            for sid in ready:
                out.append(by_id[sid])
                sorter.done(sid)
        return out

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        known = ", ".join(s.id for s in self.steps)
        raise PlanError(f"plan '{self.name}' has no step '{step_id}'; steps: {known}")

    @property
    def fingerprint(self) -> str:
        """Hash of every step fingerprint and the backend: identifies the whole plan."""
        return sha256_text(canonical_json(
            {"steps": [s.fingerprint for s in self.steps], "backend": dict(self.backend)},
            indent=None))

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html, rows_html  # lazy: a container running a plan needs no report

        steps = [{"step": s.id, "kind": s.kind, "placement": s.placement, "fingerprint": s.fingerprint[:12],
                  "needs": ", ".join(sorted({r.step for r in s.inputs.values() if r.step}))} for s in self.ordered()]
        facts = {"backend": self.backend.get("name"), "fingerprint": self.fingerprint[:12], **self.meta}
        return card_html(f"Plan {self.name}", facts, [("Steps", rows_html(steps))])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA_VERSION, "name": self.name, "tesla_version": self.tesla_version,
            "backend": dict(self.backend), "meta": dict(self.meta),
            "fingerprint": self.fingerprint, "steps": [s.to_dict() for s in self.steps],
        }

    def to_json(self) -> str:
        """Canonical JSON: byte-identical for the same plan."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        if data.get("schema") != PLAN_SCHEMA_VERSION:
            raise PlanError(f"plan schema {data.get('schema')!r} is not supported; this Tesla "
                            f"reads schema {PLAN_SCHEMA_VERSION}. Recompile with `tesla plan`.")
        return cls(name=data["name"], steps=tuple(Step.from_dict(s) for s in data["steps"]),
                   backend=dict(data.get("backend", {})), meta=dict(data.get("meta", {})),
                   tesla_version=data.get("tesla_version", __version__))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"plan is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
