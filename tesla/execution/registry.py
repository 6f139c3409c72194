"""Backend discovery: specs come from the ``tesla.backends`` entry points.

A spec is light (a name, a config dataclass and the dotted path of the implementation), so
listing backends or validating a config never imports a cloud SDK. The implementation
class is imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from tesla.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from tesla.execution.backend import Backend

__all__ = ["BackendSpec", "backend_spec", "backend_specs"]


@dataclass(frozen=True)
class BackendSpec:
    """The light description of a backend.

    Args:
        name: the value of ``backend.name`` / the ``backend`` config group option.
        config_class: the structured-config dataclass of its settings.
        implementation: ``"module:Class"`` of the ``Backend`` subclass, imported on first use.
        extra: the pip extra that installs its SDK, for the missing-dependency message.
        description: one line for ``tesla backends``.
    """

    name: str
    config_class: type
    implementation: str
    extra: str | None = None
    description: str = ""

    def load(self) -> type[Backend]:
        """Import and return the implementation class."""
        module, _, attr = self.implementation.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            hint = f"pip install 'tesla-ml[{self.extra}]'" if self.extra else "reinstall tesla-ml"
            raise DependencyError(f"the '{self.name}' backend needs a package that is not installed "
                                  f"({exc.name}); run: {hint}") from exc


@cache
def backend_specs() -> dict[str, BackendSpec]:
    """Every installed backend, by name."""
    specs: dict[str, BackendSpec] = {}
    for ep in entry_points(group="tesla.backends"):
        spec: Any = ep.load()
        specs[spec.name] = spec
    return dict(sorted(specs.items()))


def backend_spec(name: str) -> BackendSpec:
    """The spec named ``name``, or a ConfigError listing the installed ones."""
    specs = backend_specs()
    if name in specs:
        return specs[name]
    close = difflib.get_close_matches(name, specs, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"unknown backend '{name}'. Available: {', '.join(specs)}.{hint}", key="backend")
