"""A notebook hands ``tesla.Project`` DataFrames where the CLI hands files: same ingest path, same versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import tesla
from tesla.errors import DataError
from tesla.project import Project
from tests.remote.conftest import running_server


@pytest.fixture(scope="module")
def bc(datasets_dir: Path) -> pd.DataFrame:
    return pd.read_csv(datasets_dir / "bc_train.csv")


def test_a_dataframe_is_the_same_version_as_the_csv_of_its_rows(project: Path, datasets_dir: Path,
                                                                   bc: pd.DataFrame) -> None:
    p = Project(project)
    from_csv = p.data.load(datasets_dir / "bc_train.csv", "bc", target="target")
    from_frame = p.data.load(bc, "bc", target="target")
    assert from_frame.version.sha256 == from_csv.version.sha256 and from_frame.version.version == 1
    assert not from_frame.created
    assert not list(p.store.state_dir.glob("frame-*"))  # the staged Parquet is removed


def test_a_dataframe_with_a_missing_target_is_refused_naming_the_dataframe(project: Path,
                                                                           bc: pd.DataFrame) -> None:
    p = Project(project)
    with pytest.raises(DataError, match="target") as err:
        p.data.load(bc.drop(columns=["target"]), "bc", target="target")
    assert str(p.store.state_dir) not in str(err.value)
    assert p.data.datasets() == []


def test_non_string_column_names_are_refused_with_the_fix(project: Path) -> None:
    with pytest.raises(DataError, match=r"column names must be strings.*df.columns.map\(str\)"):
        Project(project).data.load(pd.DataFrame({0: [1, 2], 1: [3, 4]}), "n")


def test_evaluate_and_predict_take_a_dataframe(trained_project: Path, datasets_dir: Path, tmp_path: Path) -> None:
    p = Project(shutil.copytree(trained_project, tmp_path / "proj"))  # evaluate records: not in the shared project
    test = pd.read_csv(datasets_dir / "bc_test.csv")
    by_frame = p.evaluation.evaluate("bc_model", test)
    by_file = p.evaluation.evaluate("bc_model", datasets_dir / "bc_test.csv")
    assert by_frame.rows == len(test) and by_frame.metrics == by_file.metrics
    scored = p.evaluation.predict("bc_model", test.drop(columns=["target"]).set_index(test.index + 1000))
    assert isinstance(scored, pd.DataFrame) and len(scored) == len(test)
    assert list(scored.index) == list(test.index + 1000)  # the caller's rows, in the caller's index
    from_file = p.evaluation.predict("bc_model", datasets_dir / "bc_test.csv")
    assert list(scored["prediction"]) == list(from_file["prediction"])


def test_a_remote_project_uploads_a_dataframe_like_a_file(tmp_path: Path, datasets_dir: Path,
                                                          bc: pd.DataFrame) -> None:
    served = Project.init(tmp_path / "served")
    shutil.copy(datasets_dir / "bc_train.csv", served.root / "bc.csv")
    with running_server(served.root) as url, tesla.Project.connect(url) as remote:
        loaded = remote.data.load(bc, "bc", target="target")
        assert loaded.version.rows == len(bc)
        remote.training.train("m", max_iter=2)
        scored = remote.evaluation.predict("m", bc.head(5), tmp_path / "out.csv")
        assert isinstance(scored, pd.DataFrame) and len(scored) == 5 and (tmp_path / "out.csv").is_file()
    local = Project.init(tmp_path / "local").data.load(datasets_dir / "bc_train.csv", "bc", target="target")
    assert loaded.version.sha256 == local.version.sha256
