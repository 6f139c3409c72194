"""What a config change does to the plan, in config terms: pure, no I/O.

Two resolved configs give the changed keys (dotted, old -> new); two plans compiled from them give
the steps added, removed and invalidated, each invalidated step with the keys that invalidate it:
its own params traced back to the config key they are copied from, a changed input artifact (the
data's content), or an invalidated upstream step (named with the keys that invalidated that one).
``tesla plan --diff REF`` and ``tesla review`` render these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tesla.plan import Plan, Step

__all__ = ["KeyChange", "StepChange", "config_changes", "flatten", "step_changes"]

_ABSENT = "(absent)"  # how a key missing on one side reads

# the config key each step param is copied from (see tesla.compiler.compile_train); a param not named
# here is the key of its kind's group: load <- data.*, split <- data.split.*, search <- search.*
_GROUP = {"load": "data.", "split": "data.split.", "search": "search.", "evaluate": "evaluation."}
_PARAM_KEYS = {
    ("load", "format"): "data.source", ("evaluate", "source"): "evaluation.data",
    ("evaluate", "format"): "evaluation.data", ("evaluate", "title"): "model.name",
    ("register", "model"): "model.name", ("register", "dataset"): "data.dataset",
    ("register", "dataset_version"): "data.version",
}
_INPUT_KEYS = {("load", "source"): "data content", ("evaluate", "test"): "evaluation.data content"}
# copies of what an upstream step already shows (the search step's fingerprint, the load step's data hash)
_DERIVED = {("register", "training_fingerprint"), ("register", "dataset_sha256")}


@dataclass(frozen=True)
class KeyChange:
    """One config key whose resolved value differs: ``old``/``new`` are ``None`` where the key is absent."""

    key: str
    old: Any
    new: Any
    added: bool = False  # only in the new config
    removed: bool = False  # only in the old config

    def describe(self) -> str:
        """``key: old -> new`` with values as JSON, never shortened."""
        return f"{self.key}: {_show(self.old, self.added)} -> {_show(self.new, self.removed)}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, "added": self.added, "removed": self.removed}


@dataclass(frozen=True)
class StepChange:
    """What happens to one step: ``added``, ``removed``, ``invalidated`` (will re-run) or ``unchanged``."""

    step: str
    kind: str
    change: str
    old_fingerprint: str | None
    new_fingerprint: str | None
    causes: tuple[str, ...] = ()  # why an invalidated step re-runs, in config terms
    keys: tuple[str, ...] = ()  # the config keys behind ``causes``, upstream ones included

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "change": self.change, "old_fingerprint": self.old_fingerprint,
                "new_fingerprint": self.new_fingerprint, "causes": list(self.causes), "keys": list(self.keys)}


def _show(value: Any, absent: bool) -> str:
    return _ABSENT if absent else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; lists and scalars are leaves, an empty mapping is one too."""
    out: dict[str, Any] = {}
    for key in sorted(data):
        value, dotted = data[key], f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[KeyChange]:
    """Every key whose resolved value differs between ``old`` and ``new``, sorted by key."""
    a, b = flatten(old), flatten(new)
    changes = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            changes.append(KeyChange(key, None, b[key], added=True))
        elif key not in b:
            changes.append(KeyChange(key, a[key], None, removed=True))
        elif a[key] != b[key]:
            changes.append(KeyChange(key, a[key], b[key]))
    return changes


def _param_key(kind: str, param: str) -> str:
    return _PARAM_KEYS.get((kind, param)) or f"{_GROUP.get(kind, kind + '.')}{param}"


def _own_causes(old: Step, new: Step) -> list[tuple[str, str]]:
    """(config key, description) for each param and content input of ``new`` that differs from ``old``."""
    causes = []
    for param in sorted(set(old.params) | set(new.params)):
        if (new.kind, param) in _DERIVED or old.params.get(param) == new.params.get(param):
            continue
        key = _param_key(new.kind, param)
        change = KeyChange(key, old.params.get(param), new.params.get(param),
                           added=param not in old.params, removed=param not in new.params)
        causes.append((key, change.describe()))
    for name in sorted(set(old.inputs) | set(new.inputs)):
        a, b = old.inputs.get(name), new.inputs.get(name)
        if a is not None and b is not None and a.step is None and b.step is None and a.sha256 != b.sha256:
            key = _INPUT_KEYS.get((new.kind, name), f"input {name}")
            causes.append((key, f"{key}: sha256 {a.sha256[:12]} -> {b.sha256[:12]}"))
        elif a is not None and b is not None and (a.step, a.output) != (b.step, b.output):
            causes.append((f"input {name}", f"input {name}: {a.step or 'stored'} -> {b.step or 'stored'}"))
    return causes


def step_changes(old: Plan, new: Plan) -> list[StepChange]:
    """Each step of either plan and what the change from ``old`` to ``new`` does to it, in ``new``'s order."""
    before = {s.id: s for s in old.steps}
    out: dict[str, StepChange] = {}
    for step in new.ordered():
        prior = before.get(step.id)
        if prior is None:
            out[step.id] = StepChange(step.id, step.kind, "added", None, step.fingerprint)
            continue
        if prior.fingerprint == step.fingerprint:
            out[step.id] = StepChange(step.id, step.kind, "unchanged", prior.fingerprint, step.fingerprint)
            continue
        own = _own_causes(prior, step)
        causes, keys = [text for _, text in own], [key for key, _ in own]
        ups = [out[u] for u in sorted({r.step for r in step.inputs.values() if r.step})
               if u in out and out[u].change in {"invalidated", "added"}]
        up_keys = [k for up in ups for k in up.keys if k not in keys]
        if ups:
            causes.append(f"upstream {', '.join(up.step for up in ups)}"
                          + (f" ({', '.join(dict.fromkeys(up_keys))})" if up_keys else ""))
            keys.extend(up_keys)
        if not causes:  # same params and inputs: only the Tesla version the fingerprint holds can differ
            causes.append("tesla version (the fingerprint holds it)")
        out[step.id] = StepChange(step.id, step.kind, "invalidated", prior.fingerprint, step.fingerprint,
                                  tuple(causes), tuple(dict.fromkeys(keys)))
    removed = [StepChange(s.id, s.kind, "removed", s.fingerprint, None) for s in old.ordered() if s.id not in out]
    return [*out.values(), *removed]
