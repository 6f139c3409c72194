"""Compose the config with Hydra's compose API (behind a lock; never ``@hydra.main``).

Search path: the project's ``conf/`` first (it overrides), then Tesla's default tree that
ships inside the package. Every Hydra/OmegaConf failure becomes a one-line ``ConfigError``
naming the key, what is allowed, and a "did you mean".
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tesla.config._errors import (
    located,
    translate,
    unknown_key_error,
    unparsable_override,
)
from tesla.config._files import check_conf_files
from tesla.config.checks import check_config
from tesla.config.schema import TeslaConfig
from tesla.errors import ConfigError

__all__ = ["DEFAULT_CONF_DIR", "check_overrides", "compose", "compose_plain", "config_groups"]

DEFAULT_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
_LOCK = threading.Lock()  # Hydra's global state is not thread-safe (hydra issue #2010)
# free-form mappings: their keys are the user's (metric names, estimators, tag names)
FREE_FORM = ("evaluation.gates", "search.search_space", "backend.tags", "backend.labels")
_FLAG_KEYS = ("model.name", "search.framework", "search.max_iter", "deploy")


def _allow_free_form(override: str) -> str:
    """Hydra refuses new keys under struct mode; inside free-form mappings new keys are the point."""
    key = override.split("=", 1)[0]
    if key[:1] in "+~" or not _free_form(key):
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


def _free_form(key: str) -> bool:
    return any(key == f or key.startswith(f"{f}.") for f in FREE_FORM)


_MAX_KEY = 200  # characters in an override's key, far above any real one, below a file name's 255


def check_overrides(overrides: Sequence[str]) -> None:
    """What Hydra accepts but Tesla refuses: a key set twice, ``~`` on a schema key, an override with no key.

    Raises:
        ConfigError: naming the override and the fix.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    seen: dict[str, str] = {}
    for raw in overrides:
        try:
            parsed = parser.parse_override(raw)
        except HydraException:
            raise unparsable_override(raw) from None
        key = parsed.key_or_group + (f"@{parsed.package}" if parsed.package else "")
        if not parsed.key_or_group:
            raise ConfigError(f"override '{raw}' has no key; overrides are KEY=VALUE (e.g. search.metric=log_loss)")
        if len(key) > _MAX_KEY:  # Hydra would look the key up as a file name and fail with ENAMETOOLONG
            raise ConfigError(f"override key '{key[:40]}...' is {len(key)} characters long; no config key is longer "
                              f"than {_MAX_KEY}", key=key[:_MAX_KEY])
        if key.startswith(("hydra.", "hydra/")):
            continue
        if parsed.is_delete() and not _free_form(key):
            raise ConfigError(f"override '{raw}' deletes '{key}', but Tesla's keys and groups are fixed by its "
                              f"schema; set a value instead ({key}=VALUE)", key=key)
        value = raw.split("=", 1)[1] if "=" in raw else ""
        if key in seen and seen[key] != value:
            flags = (" (-m, -f, -p and --profile set model.name, search.framework, search.max_iter and deploy)"
                     if key in _FLAG_KEYS else "")
            raise ConfigError(f"'{key}' is set twice on the command line, to {seen[key]!r} and to {value!r}{flags}; "
                              "keep one", key=key)
        seen[key] = value


def _check_schema_keys(node: Any, prefix: str = "") -> None:
    """A key the schema lacks, added with ``+key=`` or ``++key=`` (Hydra opens struct mode for those)."""
    from omegaconf import DictConfig, OmegaConf

    cls = OmegaConf.get_type(node)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return  # a free-form mapping: its keys are the user's
    names = {f.name for f in dataclasses.fields(cls)}
    for key in node:
        if key not in names:
            raise unknown_key_error(f"{prefix}{key}", cls)
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            _check_schema_keys(child, f"{prefix}{key}.")


def _check_composed(cfg: Any, overrides: Sequence[str], project_dir: Path) -> None:
    """No required value left unset, no key outside the schema, every interpolation resolves, the
    semantic checks pass; a value's error names the override or project file that set it."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{located(missing[0], overrides, project_dir)}config value '{missing[0]}' is required; "
                          f"set it in conf/ or on the command line: {missing[0]}=VALUE", key=missing[0])
    _check_schema_keys(cfg)
    plain = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves here, where errors are mapped
    assert isinstance(plain, dict)
    try:
        check_config(plain)
    except ConfigError as exc:
        where = located(exc.key, overrides, project_dir) if exc.key else ""
        if not where:
            raise
        raise ConfigError(where + exc.message, key=exc.key) from None


def compose(overrides: Sequence[str] = (), *, project_dir: str | Path = ".",
            backend_schemas: Mapping[str, type] | None = None) -> Any:
    """The composed, type-checked config (an OmegaConf ``DictConfig``).

    Args:
        overrides: Hydra overrides, e.g. ``["search.metric=log_loss", "backend=sagemaker"]``.
        project_dir: the project whose ``conf/`` overrides the defaults.
        backend_schemas: backend name -> its config dataclass (from the backend specs).

    Raises:
        ConfigError: a broken project file, an unknown key or group option, a wrong type, a missing
            value, or a value outside what is allowed (``tesla.config.checks``).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    project_dir = Path(project_dir).resolve()
    primary = _project_conf(project_dir)
    extra = [f"hydra.searchpath=[file://{DEFAULT_CONF_DIR}]"] if primary else []
    if primary:
        check_conf_files(primary, project_dir)
    with _LOCK:
        GlobalHydra.instance().clear()
        _store_schemas(backend_schemas or {})
        try:
            check_overrides(overrides)
            with initialize_config_dir(config_dir=str(primary or DEFAULT_CONF_DIR), version_base="1.3",
                                       job_name="tesla"):
                cfg = hydra_compose(config_name="config",
                                    overrides=[*map(_allow_free_form, overrides), *extra])
            _check_composed(cfg, overrides, project_dir)
        except ConfigError:
            raise
        except (HydraException, OmegaConfBaseException, ValueError) as exc:
            raise translate(exc, list(overrides), project_dir) from None
        finally:
            GlobalHydra.instance().clear()
    return cfg


# -- the composed config as a plain dict, replayed from a cache ---------------------------------------------
# Hydra's compose (and importing Hydra and OmegaConf) is most of `tesla plan`'s time. The resolved plain dict
# depends only on what the key below names: the conf files' content (the project's and the defaults), the
# overrides, the backend config classes (their source files), and the Tesla, Hydra and OmegaConf versions.
# What else could change it is never cached: a resolver (`${oc.env:...}`: the environment) anywhere in a
# file or override, another search path, or a value JSON would not give back with its exact type.
_RESOLVER = re.compile(r"\$\{\s*[\w.]+\s*:")
_CACHE_VERSION = 1
_CACHE_KEEP = 512  # saved answers kept (a sweep saves one per point); the least recently used go first


def _conf_files(project_dir: Path) -> list[Path]:
    roots = [DEFAULT_CONF_DIR, *([primary] if (primary := _project_conf(project_dir)) else [])]
    return [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]


def _plain_cache_key(overrides: Sequence[str], project_dir: Path, backend_schemas: Mapping[str, type]) -> str | None:
    """What the composed plain config depends on, hashed; None when it may depend on anything else."""
    import hashlib
    import inspect
    import json
    from importlib.metadata import version

    from tesla._version import __version__

    texts = [*overrides]
    digest = hashlib.sha256()
    for path in _conf_files(project_dir):
        data = path.read_bytes()
        texts.append(data.decode("utf-8", "replace"))
        digest.update(f"{path}\0{len(data)}\0".encode() + data)
    if any(_RESOLVER.search(t) or "searchpath" in t for t in texts) or any(o.lstrip("+~").startswith("hydra")
                                                                            for o in overrides):
        return None
    # the schema classes' sources: Tesla's own (tesla/config) and each backend's config class
    sources = [("", "", p) for p in sorted(Path(__file__).parent.glob("*.py"))]
    sources += [(name, f"{cls.__module__}.{cls.__qualname__}", Path(inspect.getfile(cls)))
                for name, cls in sorted(backend_schemas.items())]
    schemas = [[name, cls, str(src), src.stat().st_size, src.stat().st_mtime_ns] for name, cls, src in sources]
    head = [_CACHE_VERSION, __version__, version("hydra-core"), version("omegaconf"), str(project_dir),
            list(overrides), schemas]
    digest.update(json.dumps(head).encode())
    return digest.hexdigest()


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (JSON gives back no tuple, Enum or float-as-int)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b) or a != a and b != b  # NaN is itself


def _cache_dir() -> Path:
    from tesla.cache import cache_root

    return cache_root() / "compose"


def _prune(directory: Path) -> None:
    """Remove all but the ``_CACHE_KEEP`` most recently used saved answers."""
    saved = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in saved[_CACHE_KEEP:]:
        old.unlink(missing_ok=True)


def compose_plain(overrides: Sequence[str] = (), *, project_dir: str | Path = ".",
                  backend_schemas: Mapping[str, type] | None = None) -> dict[str, Any]:
    """``compose(...)`` resolved to a plain dict (``OmegaConf.to_container(cfg, resolve=True)``).

    The answer is saved the first time and replayed while nothing it depends on changed (see
    ``_plain_cache_key``): then neither Hydra nor OmegaConf is imported. A saved answer that is
    unreadable, or for another key, is never used. Same arguments and errors as ``compose``.
    """
    import json
    import os

    project_dir = Path(project_dir).resolve()
    schemas = backend_schemas or {}
    key = _plain_cache_key(overrides, project_dir, schemas)
    path = _cache_dir() / f"{key}.json" if key else None
    if path is not None:
        try:
            saved = json.loads(path.read_text())
            if saved["key"] == key:
                os.utime(path)  # recently used: kept by _prune
                return saved["plain"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(compose(overrides, project_dir=project_dir, backend_schemas=schemas), resolve=True)
    assert isinstance(plain, dict)
    if path is not None:
        try:
            text = json.dumps({"key": key, "plain": plain})
        except (TypeError, ValueError):
            return plain  # a value JSON cannot hold: compose each time
        if _same(json.loads(text)["plain"], plain):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
                tmp.write_text(text)
                os.replace(tmp, path)
                _prune(path.parent)
            except OSError:
                pass  # a read-only cache directory: compose again next time
    return plain
