"""The wheel ships every package and the default config tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tesla").rglob("__init__.py")}
    found |= {"tesla_backends" + "".join("." + x for x in p.parent.relative_to(ROOT / "backends").parts)
              for p in (ROOT / "backends").rglob("__init__.py")}
    found = {f for f in found if "__pycache__" not in f}
    assert found == listed


def test_the_default_conf_tree_ships_inside_the_package() -> None:
    from tesla.config import DEFAULT_CONF_DIR

    assert DEFAULT_CONF_DIR.resolve() == (ROOT / "conf").resolve()
    groups = {p.name for p in DEFAULT_CONF_DIR.iterdir() if p.is_dir()}
    assert {"data", "search", "evaluation", "deploy", "backend", "monitor"} <= groups
