"""Package Tesla's own code for remote steps: a deterministic, content-addressed tarball.

A cloud job runs ``python -m tesla.steps`` from an image that already holds Tesla's
third-party dependencies (scikit-learn, FLAML, ...); the code package carries *this exact*
Tesla (and its backends), so a job never runs a different Tesla version than the one that
compiled its plan. The job extracts the tarball and puts it first on ``PYTHONPATH``.

The tarball is byte-identical for identical sources (sorted entries, zeroed times and
owners, gzip without a timestamp), so its sha256 names it in the bucket and an unchanged
Tesla is uploaded once, however many runs use it.

The image, in turn, must hold the packages the chosen estimators need: ``missing_packages``
compares them with the packages a backend's config says its image has, so a plan (or a
bundle being deployed) that the one serving image could not load is refused up front.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tesla.errors import DependencyError

__all__ = ["CODE_PACKAGE_NAME", "ESTIMATOR_PACKAGES", "CodePackage", "build_code_package",
           "deterministic_tar_gz", "missing_packages", "plan_estimators", "tar_directory"]

CODE_PACKAGE_NAME = "tesla-code.tar.gz"
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class CodePackage:
    """A built code package.

    Attributes:
        data: the tar.gz bytes (small: a few hundred KB).
        sha256: hash of ``data``; names the package in the bucket.
        files: the archive's member names, sorted.
    """

    data: bytes
    sha256: str
    files: tuple[str, ...]

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write the tarball as ``<directory>/tesla-code.tar.gz`` and return its path."""
        path = Path(directory) / CODE_PACKAGE_NAME
        path.write_bytes(self.data)
        return path


def _package_dir(name: str) -> Path:
    # find_spec reads where a package lives without importing it (core must not import tesla_backends)
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(f"cannot package '{name}' for remote steps: it is not an installed package; "
                              "reinstall tesla-ml")
    return Path(next(iter(spec.submodule_search_locations)))


def _walk(root: Path, arcroot: str) -> Iterator[tuple[str, Path]]:
    # followlinks: the source tree links tesla/conf -> ../conf, and the job needs the files
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if not name.endswith(_SKIP_SUFFIXES):
                path = Path(dirpath) / name
                yield f"{arcroot}/{path.relative_to(root).as_posix()}", path


def deterministic_tar_gz(members: Iterable[tuple[str, Path]]) -> bytes:
    """A tar.gz of ``(arcname, path)`` files whose bytes depend only on the names and contents.

    Times, owners and modes are zeroed and gzip gets no timestamp, so the same files always
    give the same sha256 (what content-addressed uploads rely on).
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def tar_directory(directory: str | os.PathLike[str]) -> bytes:
    """``deterministic_tar_gz`` of every file under ``directory``, at the archive root (a model.tar.gz)."""
    root = Path(directory)
    return deterministic_tar_gz((p.relative_to(root).as_posix(), p)
                                for p in sorted(root.rglob("*")) if p.is_file())


def build_code_package(packages: Sequence[str] = ("tesla",)) -> CodePackage:
    """Build the tarball of ``packages`` as installed here (in memory; no network).

    Args:
        packages: importable top-level package names, e.g. ``("tesla", "tesla_backends")``.

    Returns:
        The package bytes, their sha256 and the member names.

    Raises:
        DependencyError: a package is not installed.
    """
    members = sorted(m for name in packages for m in _walk(_package_dir(name), name))
    data = deterministic_tar_gz(members)
    return CodePackage(data=data, sha256=hashlib.sha256(data).hexdigest(),
                       files=tuple(arcname for arcname, _ in members))


# estimator -> the pip package its fitted model needs at load time; unlisted ones need scikit-learn
ESTIMATOR_PACKAGES: dict[str, str] = {
    "lgbm": "lightgbm", "xgboost": "xgboost", "xgb_limitdepth": "xgboost", "catboost": "catboost",
    "torch_mlp": "torch", "keras_mlp": "tensorflow",
}


def plan_estimators(search_params: Mapping[str, Any] | None) -> list[str]:
    """The estimators a ``search`` step may pick: its list, or the framework's defaults for any task."""
    if not search_params:
        return []
    from tesla.steps.train import candidate_estimators  # the step owns its AutoML defaults (light to import)

    return candidate_estimators(search_params)


def missing_packages(estimators: Iterable[str], image_packages: Iterable[str]) -> dict[str, str]:
    """Estimator -> package it needs that ``image_packages`` lacks (empty when the image has all).

    Package names compare case-insensitively with ``-``/``_`` alike, as pip does.
    """
    def norm(name: str) -> str:
        return name.lower().replace("_", "-")

    have = {norm(p) for p in image_packages}
    needed = {e: ESTIMATOR_PACKAGES.get(e, "scikit-learn") for e in estimators}
    return {e: pkg for e, pkg in needed.items() if norm(pkg) not in have}
