"""Compose the config with Hydra's compose API (behind a lock; never ``@hydra.main``).

Search path: the project's ``conf/`` first (it overrides), then Tesla's default tree that
ships inside the package. Every Hydra/OmegaConf failure becomes a one-line ``ConfigError``
naming the key, what is allowed, and a "did you mean".
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tesla.config.schema import TeslaConfig
from tesla.errors import ConfigError, did_you_mean

__all__ = ["DEFAULT_CONF_DIR", "compose", "config_groups"]

DEFAULT_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
_LOCK = threading.Lock()  # Hydra's global state is not thread-safe (hydra issue #2010)
# free-form mappings: their keys are the user's (metric names, estimators, tag names)
FREE_FORM = ("evaluation.gates", "search.search_space", "backend.tags", "backend.labels")


def _allow_free_form(override: str) -> str:
    """Hydra refuses new keys under struct mode; inside free-form mappings new keys are the point."""
    key = override.split("=", 1)[0]
    if key[:1] in "+~" or not any(key == f or key.startswith(f"{f}.") for f in FREE_FORM):
        return override
    return f"++{override}"


def _project_conf(project_dir: Path) -> Path | None:
    conf = project_dir / "conf"
    return conf if (conf / "config.yaml").is_file() else None


def config_groups(project_dir: Path | None = None) -> dict[str, list[str]]:
    """Group name -> available options, from the project's and the default tree."""
    groups: dict[str, set[str]] = {}
    roots = [DEFAULT_CONF_DIR] + ([c] if project_dir and (c := _project_conf(project_dir)) else [])
    for root in roots:
        for sub in root.iterdir():
            if sub.is_dir():
                groups.setdefault(sub.name, set()).update(p.stem for p in sub.glob("*.yaml"))
    return {k: sorted(v) for k, v in sorted(groups.items())}


def _store_schemas(backend_schemas: Mapping[str, type]) -> None:
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="tesla_schema", node=TeslaConfig)
    for name, schema in backend_schemas.items():
        cs.store(group="backend", name=f"{name}_schema", node=schema)


def _known_keys(node: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys = []
    if isinstance(node, DictConfig):
        for key in node.keys():
            path = f"{prefix}{key}"
            keys.append(path)
            keys += _known_keys(node._get_node(key), f"{path}.")
    return keys


def _translate(exc: Exception, overrides: Sequence[str], project_dir: Path) -> ConfigError:
    """Turn a Hydra/OmegaConf exception into a one-line ConfigError with a hint."""
    text = str(exc).strip()
    cause = str(exc.__cause__ or "").strip()
    group = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if group:
        options = config_groups(project_dir).get(group.group(1), [])
        hint = did_you_mean(group.group(2), options)
        return ConfigError(f"unknown option '{group.group(2)}' for config group '{group.group(1)}'. "
                           f"Available: {', '.join(options)}.{hint}", key=group.group(1))
    full_key = getattr(exc.__cause__, "full_key", None) or getattr(exc, "full_key", None)
    detail = (cause or text).splitlines()[0] if (cause or text) else type(exc).__name__
    if re.search(r"Key '[^']+' (is )?not in", cause or text):
        bad = full_key or _override_key(text)
        if bad:
            return _unknown_key_error(bad)
    if text.startswith("Error parsing override"):
        bad = re.search(r"override '([^']*)'", text)
        return ConfigError(f"cannot parse override '{bad.group(1) if bad else text}': overrides are "
                           "KEY=VALUE (e.g. search.metric=log_loss)", key=bad.group(1) if bad else None)
    if full_key:
        return ConfigError(f"wrong value for '{full_key}': {detail}", key=full_key)
    return ConfigError(f"invalid config: {detail}")


def _override_key(text: str) -> str | None:
    m = re.search(r"Could not override '([^']+)'", text)
    return m.group(1) if m else None


def _unknown_key_error(bad: str) -> ConfigError:
    from omegaconf import OmegaConf

    known = _known_keys(OmegaConf.structured(TeslaConfig))
    parent = bad.rsplit(".", 1)[0] if "." in bad else ""
    siblings = [k for k in known if k.rsplit(".", 1)[0] == parent] if parent else [k for k in known if "." not in k]
    close = difflib.get_close_matches(bad, known, n=1) or difflib.get_close_matches(bad, siblings, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    allowed = ", ".join(k.rsplit(".", 1)[-1] for k in siblings[:20])
    return ConfigError(f"unknown config key '{bad}'.{hint} Keys under '{parent or '<root>'}': {allowed}", key=bad)


def compose(overrides: Sequence[str] = (), *, project_dir: str | Path = ".",
            backend_schemas: Mapping[str, type] | None = None) -> Any:
    """The composed, type-checked config (an OmegaConf ``DictConfig``).

    Args:
        overrides: Hydra overrides, e.g. ``["search.metric=log_loss", "backend=sagemaker"]``.
        project_dir: the project whose ``conf/`` overrides the defaults.
        backend_schemas: backend name -> its config dataclass (from the backend specs).

    Raises:
        ConfigError: an unknown key or group option, a wrong type, or a missing value.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from hydra.errors import HydraException

    project_dir = Path(project_dir).resolve()
    primary = _project_conf(project_dir)
    extra = [f"hydra.searchpath=[file://{DEFAULT_CONF_DIR}]"] if primary else []
    with _LOCK:
        GlobalHydra.instance().clear()
        _store_schemas(backend_schemas or {})
        try:
            with initialize_config_dir(config_dir=str(primary or DEFAULT_CONF_DIR), version_base="1.3",
                                       job_name="tesla"):
                cfg = hydra_compose(config_name="config",
                                    overrides=[*map(_allow_free_form, overrides), *extra])
            missing = sorted(OmegaConf.missing_keys(cfg))
        except (HydraException, OmegaConfBaseException, ValueError) as exc:
            raise _translate(exc, overrides, project_dir) from None
        finally:
            GlobalHydra.instance().clear()
    if missing:
        raise ConfigError(f"config value '{missing[0]}' is required; set it in conf/ or on the command "
                          f"line: {missing[0]}=VALUE", key=missing[0])
    return cfg
