"""The code package remote steps run: deterministic, complete, importable from the tarball."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from tesla.execution.packaging import build_code_package, missing_packages, plan_estimators, tar_directory


def test_package_is_byte_identical_across_builds_and_holds_what_a_job_needs() -> None:
    first, second = build_code_package(("tesla", "tesla_backends")), build_code_package(("tesla", "tesla_backends"))
    assert first.sha256 == second.sha256 and first.data == second.data
    names = set(first.files)
    assert {"tesla/steps/__main__.py", "tesla/plan.py", "tesla/conf/prices.yaml",
            "tesla_backends/sagemaker/_requests.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_steps_entrypoint_imports_from_the_unpacked_package(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(build_code_package().data)) as tar:
        tar.extractall(tmp_path, filter="data")
    code = "import tesla.steps.__main__ as m, tesla; print(tesla.__file__)"
    # -S: no site-packages, so neither an installed nor an editable Tesla can stand in for the package
    out = subprocess.run([sys.executable, "-S", "-c", code], env={"PYTHONPATH": str(tmp_path)}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == str(tmp_path / "tesla" / "__init__.py")


def test_model_tarball_has_the_bundle_at_its_root(tmp_path: Path) -> None:
    (tmp_path / "b" / "sub").mkdir(parents=True)
    (tmp_path / "b" / "manifest.json").write_text("{}")
    (tmp_path / "b" / "sub" / "w.bin").write_bytes(b"\0\1")
    data = tar_directory(tmp_path / "b")
    assert data == tar_directory(tmp_path / "b")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "sub/w.bin"]


def test_estimators_map_to_the_packages_an_image_must_hold() -> None:
    assert plan_estimators({"estimators": ["lgbm"], "framework": "scikit-learn"}) == ["lgbm"]
    defaults = plan_estimators({"estimators": [], "framework": "scikit-learn"})
    assert missing_packages(defaults, ["tesla-ml", "scikit_learn", "LightGBM", "xgboost"]) == {}
    assert missing_packages(["torch_mlp", "rf"], ["scikit-learn"]) == {"torch_mlp": "torch"}
