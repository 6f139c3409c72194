"""Small helpers the services share: model references, override lists, input and output paths."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tesla.errors import ConfigError, DataError, DataNotFoundError
from tesla.execution import Event, backend_specs

PathLike = str | os.PathLike[str]
EventSink = Callable[[Event], None]


_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # a stage or alias: NAME@production
_MAX_VERSION = 2**63 - 1  # SQLite's INTEGER: a bigger version number is in no store


def parse_model_ref(ref: str) -> tuple[str, int | str | None]:
    """``"name@3"`` -> ("name", 3); ``"name@production"`` -> ("name", "production"), an alias; ``"name"`` -> ("name", None)."""
    name, _, version = ref.partition("@")
    if not name:
        raise ConfigError(f"model reference '{ref}' has no name; use NAME, NAME@VERSION or NAME@ALIAS", key="model")
    if version and not version.isascii():
        raise ConfigError(f"model reference '{ref}': after '@' comes a version number or an alias, e.g. {name}@2 or "
                          f"{name}@production", key="model")
    # ASCII digits only ('²'.isdigit() is true, int('²') fails), and no more than the store's INTEGER holds
    if version.isdigit():
        if int(version) > _MAX_VERSION:
            raise ConfigError(f"model reference '{ref}': the version after '@' must be a number, e.g. {name}@2",
                              key="model")
        return name, int(version)
    if version and not _ALIAS.fullmatch(version):
        raise ConfigError(f"model reference '{ref}': an alias after '@' is letters, digits, '_', '-' or '.', "
                          f"starting with a letter, e.g. {name}@production", key="model")
    return name, version or None


def backend_schemas() -> dict[str, type]:
    """backend name -> its config dataclass, for composing ``backend=NAME``."""
    return {name: spec.config_class for name, spec in backend_specs().items()}


def train_overrides(model: str | None, framework: str | None, max_iter: int | None,
                    overrides: Sequence[str]) -> list[str]:
    """The Hydra overrides ``-m``, ``-f`` and ``-p`` stand for, followed by ``overrides``."""
    out = []
    if model:
        out.append(f"model.name={model}")
    if framework:
        out.append(f"search.framework={framework}")
    if max_iter is not None:
        out.append(f"search.max_iter={max_iter}")
    return out + list(overrides)


def model_name(plain: Mapping[str, Any]) -> str:
    """The composed config's ``model.name``, once it is known to be a usable name."""
    name = plain["model"]["name"]
    if not name:
        raise ConfigError("no model name; pass -m NAME (or set model.name=NAME)", key="model.name")
    if any(c in name for c in "/@ "):
        raise ConfigError(f"model name '{name}' may not hold '/', '@' or spaces", key="model.name")
    return name


def input_file(data: PathLike, what: str = "data file") -> Path:
    """``data`` as a path, once it is known to be a readable file (checked before anything is stored)."""
    path = Path(data)
    if not path.exists():
        raise DataNotFoundError(f"{what} '{path}' does not exist; check the path", key=str(path))
    if path.is_dir():
        raise DataError(f"{what} '{path}' is a directory; pass a CSV, Parquet or JSON-lines file", key=str(path))
    if not os.access(path, os.R_OK):
        raise DataError(f"{what} '{path}' is not readable (permission denied); allow it with chmod u+r '{path}' "
                        "or run as its owner", key=str(path))
    return path


def is_frame(data: object) -> bool:
    """Whether ``data`` is a pandas DataFrame, told without importing pandas (a path never is one)."""
    return any(c.__name__ == "DataFrame" and c.__module__.startswith("pandas") for c in type(data).__mro__)


@contextlib.contextmanager
def frame_file(frame: Any, workdir: Path, name: str = "dataframe.parquet") -> Iterator[Path]:
    """``frame`` written as a Parquet file under ``workdir`` (removed afterwards), so a DataFrame takes the
    path a file takes. The index is dropped, as a CSV of the same rows written with ``index=False`` would."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="frame-") as tmp:
        path = Path(tmp) / name
        if not all(isinstance(c, str) for c in frame.columns):
            raise DataError("a DataFrame's column names must be strings (Parquet stores no other); rename them, "
                            "e.g. df.columns = df.columns.map(str)", key="data")
        frame.to_parquet(path, index=False)
        yield path


@contextlib.contextmanager
def local_input(data: Any, workdir: Path, what: str = "data file") -> Iterator[Path]:
    """``data`` (a path or a DataFrame) as a readable local file: a DataFrame is staged by ``frame_file``."""
    if is_frame(data):
        with frame_file(data, workdir) as path:
            yield path
    else:
        yield input_file(data, what)


def output_file(output: PathLike) -> Path:
    """``output`` as a path a file can be written to; missing parent directories are made when it is written."""
    path = Path(output)
    if path.is_dir():
        raise DataError(f"output '{path}' is a directory; name a file in it, e.g. {path / 'predictions.csv'}",
                        key=str(path))
    existing = next(p for p in path.absolute().parents if p.exists())  # the filesystem root always does
    if not existing.is_dir():
        raise DataError(f"cannot write '{path}': '{existing}' is a file, not a directory; choose another path",
                        key=str(path))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"cannot write '{path}': directory '{existing}' is not writable (permission denied); "
                        "choose another path", key=str(path))
    return path


def write_table(frame: Any, path: Path) -> None:
    """Write ``frame`` as Parquet (a ``.parquet`` name) or CSV, making missing parent directories."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    except OSError as exc:
        raise DataError(f"cannot write '{path}': {exc.strerror or exc}; choose another path", key=str(path)) from exc
