"""Where a model came from: what a training run records about itself, and ``tesla models show``.

A training run records, in its plan's ``meta`` (stored with the run, never part of a fingerprint):
the resolved config, the code version (the project's git commit, whether the work tree had
uncommitted changes, the Tesla version) and the versions of the packages a model depends on. The
registry row adds the dataset version, the plan fingerprint and who trained it; ``model_lineage``
puts them together. A run made before this was recorded shows what its records still hold.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla._version import __version__

if TYPE_CHECKING:
    from tesla.store import ModelVersion, Store

__all__ = ["LINEAGE_PACKAGES", "Lineage", "code_version", "model_lineage", "package_versions", "run_meta"]

# what a bundle's predictions or a run's search depend on (read from installed metadata: nothing is imported)
LINEAGE_PACKAGES = ("tesla-ml", "scikit-learn", "flaml", "lightgbm", "xgboost", "catboost", "numpy", "pandas",
                    "pyarrow", "skops", "torch", "tensorflow", "hydra-core", "omegaconf")


def package_versions() -> dict[str, str]:
    """Installed versions of ``LINEAGE_PACKAGES`` (those not installed are left out)."""
    found = {}
    for name in LINEAGE_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def code_version(root: Path) -> dict[str, Any]:
    """The project's git commit (``None`` outside git) and whether tracked files had uncommitted changes."""
    commit = _git(root, "rev-parse", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"git_commit": commit, "git_dirty": dirty, "tesla": __version__}


def run_meta(root: Path, plain: Mapping[str, Any]) -> dict[str, Any]:
    """What a training run records about itself (see the module docstring)."""
    return {"config": dict(plain), "code": code_version(root), "packages": package_versions()}


@dataclass(frozen=True)
class Lineage:
    """Everything recorded about how one model version was made."""

    model: str  # NAME@V
    created_at: str | None
    created_by: str | None  # who trained it
    run_id: str | None
    dataset: str | None  # NAME@V
    dataset_sha256: str | None
    plan_fingerprint: str | None
    code: dict[str, Any]  # git_commit, git_dirty, tesla
    packages: dict[str, str]
    config: dict[str, Any]  # the resolved config
    metrics: dict[str, Any]
    stage: str | None
    missing: tuple[str, ...]  # what this model's records do not hold (made by an older Tesla)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "created_at": self.created_at, "created_by": self.created_by,
                "run_id": self.run_id, "dataset": self.dataset, "dataset_sha256": self.dataset_sha256,
                "plan_fingerprint": self.plan_fingerprint, "code": self.code, "packages": self.packages,
                "config": self.config, "metrics": self.metrics, "stage": self.stage, "missing": list(self.missing)}


def model_lineage(store: Store, mv: ModelVersion) -> Lineage:
    """The lineage of a registered model version, from its registry row, its run and its bundle's manifest."""
    from tesla.errors import TeslaError

    meta: dict[str, Any] = {}
    if mv.run_id:
        try:
            meta = dict(store.run(mv.run_id).meta)
        except TeslaError:  # the run record is gone: the registry row still holds the rest
            meta = {}
    manifest = _manifest(store, mv)
    config = meta.get("config") or mv.config.get("resolved") or {}
    code = meta.get("code") or ({"tesla": manifest["tesla_version"]} if manifest.get("tesla_version") else {})
    dataset_sha = manifest.get("lineage", {}).get("dataset_sha256")
    missing = tuple(label for label, absent in (("resolved config", not config),
                                                ("code version (git commit)", "git_dirty" not in code),
                                                ("package versions", not meta.get("packages"))) if absent)
    return Lineage(model=mv.ref, created_at=mv.created_at, created_by=mv.created_by, run_id=mv.run_id,
                   dataset=f"{mv.dataset}@{mv.dataset_version}" if mv.dataset else None, dataset_sha256=dataset_sha,
                   plan_fingerprint=mv.plan_fingerprint, code=dict(code), packages=dict(meta.get("packages") or {}),
                   config=dict(config), metrics=dict(mv.metrics), stage=mv.stage, missing=missing)


def _manifest(store: Store, mv: ModelVersion) -> dict[str, Any]:
    import json

    from tesla.errors import TeslaError
    from tesla.models import verified_bundle_dir

    try:
        return json.loads((verified_bundle_dir(store.artifacts, mv.bundle_sha, ref=mv.ref) / "manifest.json").read_text())
    except (TeslaError, OSError, ValueError):  # shown without what only the bundle holds
        return {}
