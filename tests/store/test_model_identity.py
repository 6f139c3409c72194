"""Identical models are one version: a bundle is recognised by its content, not its archive bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tesla import api
from tesla.store import hash_path
from tesla.store.identity import content_identity

_DUMP = """
import sys
import numpy as np
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
X = np.random.RandomState(0).rand(40, 3)
sio.dump(RandomForestClassifier(n_estimators=2, random_state=0).fit(X, X[:, 0] > .5), sys.argv[1])
"""
# an XGBoost booster is saved as a bytearray, whose member skops names by a fresh uuid4
_DUMP_XGB = """
import sys
import numpy as np
import skops.io as sio
from xgboost import XGBClassifier
X = np.random.RandomState(0).rand(40, 3)
sio.dump(XGBClassifier(n_estimators=2, random_state=0, n_jobs=1).fit(X, X[:, 0] > .5), sys.argv[1])
"""


@pytest.mark.parametrize("dump", [_DUMP, _DUMP_XGB], ids=["forest", "xgboost"])
def test_two_saves_of_one_model_differ_in_bytes_not_in_identity(tmp_path: Path, dump: str) -> None:
    for name in ("a", "b"):  # separate processes: skops names members after id(), which differ
        (tmp_path / name).mkdir()
        subprocess.run([sys.executable, "-c", dump, str(tmp_path / name / "model.skops")], check=True)
        (tmp_path / name / "manifest.json").write_text('{"estimator": "rf"}\n')
    assert hash_path(tmp_path / "a") != hash_path(tmp_path / "b")
    assert content_identity(tmp_path / "a") == content_identity(tmp_path / "b")
    (tmp_path / "b" / "manifest.json").write_text('{"estimator": "lgbm"}\n')
    assert content_identity(tmp_path / "a") != content_identity(tmp_path / "b")


def test_training_the_same_model_again_registers_no_new_version(project: Path, datasets_dir: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    first = api.train("m", max_iter=2, project_dir=project)
    again = api.train("m", max_iter=2, project_dir=project, force=True)  # searched and saved again
    assert again.model.version == first.model.version == 1
    assert [v.version for v in api.open_store(project).model_versions("m")] == [1]
    other = api.train("m", max_iter=2, project_dir=project, overrides=["data.split.seed=3"])
    assert other.model.version == 2
