"""The project's config files, checked before Hydra reads them: YAML text holding one mapping.

Hydra reports a broken file as a raw YAML traceback (tabs, an unclosed quote, a duplicate
key), an ``OSError`` without the file's name (a scalar), or not at all (an empty file or
``null`` silently means "no settings"). Checking every ``conf/**/*.yaml`` first gives one
line naming the file, the line and column, and the fix. Each file is small; reading them
all costs a few milliseconds and also catches a broken file that is not in use today.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tesla.errors import ConfigError

__all__ = ["check_conf_files", "key_line", "where"]

_CHECKED: set[tuple[str, int, int]] = set()  # (file, mtime, size) already found good: sweeps compose many times


def where(path: Path, project_dir: Path, line: int | None = None, column: int | None = None) -> str:
    """``conf/search/default.yaml line 3, column 5``: the file relative to the project."""
    try:
        name = path.resolve().relative_to(project_dir).as_posix()
    except ValueError:
        name = path.as_posix()
    if line is None:
        return name
    return f"{name} line {line}" + (f", column {column}" if column is not None else "")


def _loader() -> Any:
    from omegaconf._utils import (
        get_yaml_loader,  # Hydra reads files with this loader: the same rules apply
    )

    return get_yaml_loader()


def _syntax_fix(problem: str, context_line: int | None) -> str:
    if "'\\t'" in problem or "\t" in problem:
        return "indent YAML with spaces, not tabs"
    if problem.startswith("found duplicate key"):
        return f"keep one '{problem.rsplit(' ', 1)[-1]}:' entry in that mapping"
    if "end of stream" in problem and context_line is not None:
        return f"close the quote or bracket opened on line {context_line}"
    return "fix the YAML syntax there (keys are 'name: value', nested keys indented with spaces)"


def _parse(path: Path, project_dir: Path) -> Any:
    import yaml

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where(path, project_dir)} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                          f"{exc.start}); a config file is YAML text: fix it, or delete it to use Tesla's default",
                          key=where(path, project_dir)) from None
    if "\x00" in text:
        raise ConfigError(f"{where(path, project_dir)} holds binary data (a NUL byte at offset {text.index(chr(0))}); "
                          "a config file is YAML text: fix it, or delete it to use Tesla's default",
                          key=where(path, project_dir))
    try:
        return yaml.load(text, Loader=_loader())  # OmegaConf's loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(filter(None, [exc.problem, exc.context if not exc.problem else None])) or "invalid YAML"
        context_line = exc.context_mark.line + 1 if exc.context_mark else None
        at = where(path, project_dir, mark.line + 1, mark.column + 1) if mark else where(path, project_dir)
        raise ConfigError(f"{at}: {problem}; {_syntax_fix(problem, context_line)}",
                          key=where(path, project_dir)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where(path, project_dir)}: {str(exc).splitlines()[0]}; fix the YAML syntax",
                          key=where(path, project_dir)) from None


def _check_shape(path: Path, project_dir: Path, data: Any) -> None:
    name = where(path, project_dir)
    top = path.name == "config.yaml" and path.parent.name == "conf"
    if data is None and top:
        raise ConfigError(f"{name} is empty (or null); it holds the defaults list (defaults: [tesla_schema, data: "
                          "default, ...]): copy it from a new `tesla init` project", key=name)
    if data is None:
        raise ConfigError(f"{name} is empty (or null), not a mapping of keys; write '{{}}' if it should change "
                          "nothing, or delete it to use Tesla's default", key=name)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the {type(data).__name__} {data!r}"
        example = "'defaults: [tesla_schema, ...]'" if top else "'max_iter: 20'"
        raise ConfigError(f"{name} holds {kind}, not a mapping of keys (e.g. {example})", key=name)


def _check_defaults(path: Path, project_dir: Path, data: dict[str, Any]) -> None:
    """The project's conf/config.yaml must pull in the schema, or no key is checked at all."""
    name = where(path, project_dir)
    defaults = data.get("defaults")
    if not isinstance(defaults, list) or "tesla_schema" not in defaults:
        raise ConfigError(f"{name}: its 'defaults' list must hold '- tesla_schema' (the schema every key is checked "
                          "against) before the groups ('- search: default', ...); add it as the first item",
                          key="defaults")


def check_conf_files(conf_dir: Path, project_dir: Path) -> None:
    """Every ``*.yaml`` under ``conf_dir`` is UTF-8 YAML holding one non-empty mapping.

    Raises:
        ConfigError: naming the file (relative to ``project_dir``), the line and column, and the fix.
    """
    for path in sorted(conf_dir.rglob("*.yaml")):
        stat = path.stat()
        stamp = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if stamp in _CHECKED:
            continue
        data = _parse(path, project_dir)
        _check_shape(path, project_dir, data)
        if path.parent == conf_dir and path.name == "config.yaml":
            _check_defaults(path, project_dir, data)
        _CHECKED.add(stamp)


def key_line(path: Path, dotted: str) -> int | None:
    """The 1-based line of the dotted key ``dotted`` in the YAML file ``path``, if it is there."""
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_loader())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
        if match is None:
            return None
        line, node = match[0].start_mark.line + 1, match[1]
    return line
