"""The one mapping from Hydra / OmegaConf failures to a one-line ``ConfigError``.

Each message says what is wrong, where (the override, or the project file and line), what
is allowed (the key's type, the keys of its mapping) and a "did you mean". Hydra wraps a
file's failure as ``In 'search/default': ValidationError raised while composing config:``
with OmegaConf's error as the context; an override's failure has it as the cause.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tesla.config._files import key_line, where
from tesla.config.schema import TeslaConfig
from tesla.errors import ConfigError, did_you_mean

__all__ = ["describe_type", "located", "override_key", "translate", "unknown_key_error", "unparsable_override"]

_IN_FILE = re.compile(r"In '([^']+)': (\w+) raised while composing config")
_SYNTAX_HINT = ("overrides are KEY=VALUE with a dotted KEY (e.g. search.metric=log_loss); quote a VALUE holding "
                "spaces, commas or brackets: KEY='a value'")


def _hints(cls: Any) -> dict[str, Any]:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return {}
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that does not resolve: describe nothing rather than fail
        return {}


def describe_type(tp: Any) -> str | None:
    """``an integer``, ``a string or null``, ``a list (e.g. [a, b])``... for a schema annotation."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union:
        inner = describe_type(args[0]) if len(args) == 1 else None
        return f"{inner} or null" if inner else None
    origin = typing.get_origin(tp) or tp
    if dataclasses.is_dataclass(origin):
        return f"a mapping of {', '.join(f.name for f in dataclasses.fields(origin))}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list (e.g. [a, b])", dict: "a mapping (e.g. {key: value})"}.get(origin)


def _fields(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)] if isinstance(cls, type) and dataclasses.is_dataclass(cls) else []


def _schema_keys(cls: Any = TeslaConfig, prefix: str = "") -> list[str]:
    keys = []
    for name, tp in _hints(cls).items():
        keys.append(f"{prefix}{name}")
        keys += _schema_keys(tp, f"{prefix}{name}.") if dataclasses.is_dataclass(tp) else []
    return keys


def _node_class(dotted: str) -> Any:
    """The schema dataclass at ``dotted`` (``""``: the root), or None."""
    cls: Any = TeslaConfig
    for part in filter(None, dotted.split(".")):
        cls = _hints(cls).get(part)
    return cls if dataclasses.is_dataclass(cls) else None


def unknown_key_error(bad: str, object_type: Any = None, *, where_: str = "") -> ConfigError:
    """``unknown config key 'search.max_itr'. Did you mean 'search.max_iter'? Keys under 'search': ...``."""
    parent, _, leaf = bad.rpartition(".")
    siblings = _fields(object_type) or _fields(_node_class(parent))
    known = [k for k in _schema_keys() + [f"{parent}.{s}" if parent else s for s in siblings]
             if not bad.startswith(f"{k}.")]  # 'search' is no fix for 'search.foo'

    leaf_match = difflib.get_close_matches(leaf, siblings, n=1)
    leaves = {k.rsplit(".", 1)[-1]: k for k in reversed(known)}  # elsewhere in the schema: 'max_iter' -> search.
    elsewhere = difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.8)
    close = ([f"{parent}.{leaf_match[0]}" if parent else leaf_match[0]] if leaf_match
             else [leaves[elsewhere[0]]] if elsewhere else [])
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{where_}unknown config key '{bad}'.{hint} Keys under '{parent or '<root>'}': "
                       f"{', '.join(siblings) or '(none)'}", key=bad)


def unparsable_override(raw: str) -> ConfigError:
    """``cannot parse override 'k='x': the quote is not closed; ...``."""
    key, _, value = raw.partition("=")
    why = ("the quote is not closed" if value.count("'") % 2 or value.count('"') % 2
           else "the interpolation is not closed: write ${key.path}" if value.count("${") > value.count("}")
           else "brackets do not balance" if value.count("[") != value.count("]") or value.count("{") != value.count("}")
           else "the key is not a dotted name" if not re.fullmatch(r"[+~]{0,2}[\w/@.-]*[\w]", key) or ".." in key
           else "Hydra's override grammar rejects it")
    return ConfigError(f"cannot parse override '{raw}': {why}; {_SYNTAX_HINT}", key=key.lstrip("+~") or None)


def _got(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _value_message(err: Any, full_key: str) -> str:
    """What is wrong with the value at ``full_key``, from OmegaConf's error ``err``."""
    from omegaconf.errors import (
        GrammarParseError,
        InterpolationKeyError,
        InterpolationResolutionError,
        UnsupportedInterpolationType,
    )

    detail = str(getattr(err, "msg", None) or err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, InterpolationKeyError):
        missing = re.search(r"key '([^']+)'", detail)
        name = missing.group(1) if missing else "?"
        return (f"'{full_key}' refers to '${{{name}}}', which is not a config key.{did_you_mean(name, _schema_keys())} "
                f"Refer to an existing key (e.g. '${{search.seed}}') or give a plain value")
    if isinstance(err, UnsupportedInterpolationType):
        return f"'{full_key}': {detail}; the resolvers are oc.env, oc.select, oc.decode, oc.create, oc.deprecated"
    if isinstance(err, GrammarParseError):
        return f"'{full_key}' holds an interpolation that does not parse ({detail}); write it as ${{key.path}}"
    if isinstance(err, InterpolationResolutionError):
        return f"'{full_key}' could not be resolved: {detail}"
    leaf = full_key.rpartition(".")[2]
    expected = describe_type(_hints(getattr(err, "object_type", None)).get(leaf))
    if expected and getattr(err, "value", None) is not None:
        return f"'{full_key}' must be {expected}; got {_got(err.value)}"
    return f"wrong value for '{full_key}': {detail}"


def _shape_mismatch(cls: Any, data: Any, prefix: str) -> tuple[str, str, Any] | None:
    """The first key of a file whose value cannot merge into the schema: a list for a mapping, say."""
    for key, value in (data.items() if isinstance(data, dict) else []):
        tp = _hints(cls).get(key)
        origin = typing.get_origin(tp) or tp
        if tp is None or tp is Any:
            continue
        expected = describe_type(tp)
        if dataclasses.is_dataclass(origin):
            if not isinstance(value, dict):
                return f"{prefix}{key}", expected or "a mapping", value
            if found := _shape_mismatch(origin, value, f"{prefix}{key}."):
                return found
        elif (origin is dict) != isinstance(value, dict) or (origin is list) != isinstance(value, list):
            return f"{prefix}{key}", expected or "another type", value
    return None


def _file_of(config_path: str, project_dir: Path) -> Path:
    from tesla.config.compose import DEFAULT_CONF_DIR

    own = project_dir / "conf" / f"{config_path}.yaml"
    return own if own.is_file() else DEFAULT_CONF_DIR / f"{config_path}.yaml"


def _in_file(config_path: str, err: Any, project_dir: Path) -> ConfigError:
    """A failure while merging one config file (``search/default``): name the file and line."""
    import yaml

    path = _file_of(config_path, project_dir)
    package = config_path.rpartition("/")[0].replace("/", ".")
    full_key = getattr(err, "full_key", None) or ""
    inner = full_key[len(package) + 1:] if package and full_key.startswith(f"{package}.") else full_key
    if not full_key:  # a merge of mismatched shapes: OmegaConf does not say where, so look
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found = _shape_mismatch(_node_class(package) or TeslaConfig, data, f"{package}." if package else "")
        if found:
            full_key, expected, value = found
            inner = full_key[len(package) + 1:] if package else full_key
            at = where(path, project_dir, key_line(path, inner))
            return ConfigError(f"{at}: '{full_key}' must be {expected}; got {_got(value)}", key=full_key)
    at = f"{where(path, project_dir, key_line(path, inner) if inner else None)}: "
    if re.search(r"Key '[^']+' (is )?not in", str(err)):
        return unknown_key_error(full_key, getattr(err, "object_type", None), where_=at)
    if full_key:
        return ConfigError(at + _value_message(err, full_key), key=full_key)
    return ConfigError(f"{at}{str(err).strip().splitlines()[0]}", key=where(path, project_dir))


def override_key(override: str) -> str:
    """The dotted key (or group) an override sets: ``+search.x=1`` -> ``search.x``."""
    return override.lstrip("+~").split("=", 1)[0]


def located(full_key: str, overrides: Sequence[str], project_dir: Path) -> str:
    """``override 'k=v': `` or ``conf/x.yaml line 3: ``: where the value of ``full_key`` was set, if known."""
    for raw in reversed(overrides):
        key = override_key(raw)
        if key == full_key or ("." in key and full_key.startswith(f"{key}.")):
            return f"override '{raw}': "
    conf = project_dir / "conf"
    hits = []
    for path in sorted(conf.rglob("*.yaml")) if conf.is_dir() else []:
        package = path.parent.relative_to(conf).as_posix().replace("/", ".")
        package = "" if package == "." else package
        if package and not full_key.startswith(f"{package}."):
            continue
        line = key_line(path, full_key[len(package) + 1:] if package else full_key)
        if line is not None:
            hits.append(where(path, project_dir, line))
    return f"{hits[0]}: " if len(hits) == 1 else ""


def _defaults_entry(group: str, option: str, overrides: Sequence[str], project_dir: Path) -> str:
    """``conf/config.yaml line 5: `` when a project file's defaults list (not an override) picked ``option``."""
    if any(override_key(o) == group for o in overrides):
        return ""
    entry = re.compile(rf"^\s*-\s*{re.escape(group)}\s*:\s*{re.escape(option)}\s*(#.*)?$")
    conf = project_dir / "conf"
    for path in sorted(conf.rglob("*.yaml")) if conf.is_dir() else []:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if entry.match(line):
                return f"{where(path, project_dir, number)}: "
    return ""


def _override_of(text: str, overrides: Sequence[str]) -> str | None:
    return next((o for o in sorted(overrides, key=len, reverse=True) if o and o in text), None)


def translate(exc: Exception, overrides: Sequence[str], project_dir: Path) -> ConfigError:
    """Turn a Hydra/OmegaConf exception into one ``ConfigError`` line naming the culprit and the fix."""
    from tesla.config.compose import config_groups

    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if in_file := _IN_FILE.match(text):
        inner = exc.__cause__ or exc.__context__
        return _in_file(in_file.group(1), inner if inner is not None else exc, project_dir)
    if group := re.search(r"Could not find '([^/']+)/([^']+)'", text):
        name, option = group.groups()
        options = config_groups(project_dir).get(name, [])
        return ConfigError(f"{_defaults_entry(name, option, overrides, project_dir)}unknown option '{option}' for "
                           f"config group '{name}'. Available: {', '.join(options)}.{did_you_mean(option, options)}",
                           key=name)
    cause = exc.__cause__
    full_key = getattr(cause, "full_key", None) or getattr(exc, "full_key", None)
    if re.search(r"Key '[^']+' (is )?not in", str(cause or text)):
        bad = full_key or (m.group(1) if (m := re.search(r"Could not override '([^']+)'", text)) else None)
        if bad:
            return unknown_key_error(bad, getattr(cause, "object_type", None) or getattr(exc, "object_type", None))
    if appended := re.search(r"An item is already at '([^']+)'", text):
        key = appended.group(1)
        raw = next((o for o in overrides if o.startswith("+") and o.lstrip("+").split("=", 1)[0] == key), f"+{key}")
        return ConfigError(f"override '{raw}' adds a key, but '{key}' already exists; set it without the '+': "
                           f"{raw.lstrip('+')}", key=key)
    if ambiguous := re.search(r"Ambiguous value for argument '([^']+)'", text):
        key, _, value = ambiguous.group(1).partition("=")
        return ConfigError(f"override '{ambiguous.group(1)}' holds a comma: for a list write {key}=[{value}], for one "
                           f"string quote it: {key}='{value}'; to try each value, add --multirun (-M)", key=key)
    if type(exc).__name__ == "OverrideParseException" or first.startswith("Error parsing override"):
        bad = _override_of(text, overrides)
        return unparsable_override(bad) if bad else ConfigError(f"cannot parse an override ({first}); {_SYNTAX_HINT}")
    if first.startswith("Config group override must be"):
        groups = config_groups(project_dir)
        raw = next((o for o in overrides if o.split("=", 1)[0] in groups), None)
        name = raw.split("=", 1)[0] if raw else "?"
        return ConfigError(f"override '{raw}' must name an option of config group '{name}' (available: "
                           f"{', '.join(groups.get(name, []))}); to set a key inside it use {name}.KEY=VALUE", key=name)
    if full_key:
        return ConfigError(located(full_key, overrides, project_dir) + _value_message(cause or exc, full_key),
                           key=full_key)
    return ConfigError(f"invalid config: {first}")
