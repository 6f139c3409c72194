"""Artifacts are content-addressed and atomic; dataset versions are immutable and roll back losslessly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tesla import api
from tesla.errors import DataNotFoundError
from tesla.store import ArtifactStore, Store, hash_path


def test_same_bytes_same_sha_and_one_object(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    (tmp_path / "x.txt").write_text("hello")
    (tmp_path / "y.txt").write_text("hello")
    assert store.put(tmp_path / "x.txt") == store.put(tmp_path / "y.txt") == hash_path(tmp_path / "x.txt")
    assert len(list((tmp_path / "a" / "objects").glob("*/*"))) == 1
    assert store.path(store.put(tmp_path / "x.txt")).read_text() == "hello"


def test_directory_hash_ignores_mtimes_but_not_names(tmp_path: Path) -> None:
    for name in ("d1", "d2"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "f").write_text("1")
    os.utime(tmp_path / "d2" / "sub" / "f", (0, 0))
    assert hash_path(tmp_path / "d1") == hash_path(tmp_path / "d2")
    (tmp_path / "d2" / "sub" / "f").rename(tmp_path / "d2" / "sub" / "g")
    assert hash_path(tmp_path / "d1") != hash_path(tmp_path / "d2")


def test_a_half_written_object_is_not_trusted_and_is_replaced(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    (tmp_path / "x.txt").write_text("payload")
    sha = hash_path(tmp_path / "x.txt")
    crashed = tmp_path / "a" / "objects" / sha[:2] / sha
    crashed.mkdir(parents=True)
    (crashed / "data").write_text("pay")  # a crash before the marker
    assert not store.exists(sha)
    with pytest.raises(DataNotFoundError, match="is missing from the store"):
        store.path(sha)
    store.put(tmp_path / "x.txt")
    assert store.path(sha).read_text() == "payload"


def test_load_versions_are_immutable_and_rollback_loses_nothing(project: Path, tmp_path: Path) -> None:
    (tmp_path / "v1.csv").write_text("a,y\n1,0\n2,1\n3,0\n")
    (tmp_path / "v2.csv").write_text("a,y\n1,0\n2,1\n3,0\n4,1\n")
    first = api.load(tmp_path / "v1.csv", "d", target="y", project_dir=project)
    second = api.load(tmp_path / "v2.csv", "d", project_dir=project)
    same = api.load(tmp_path / "v1.csv", "d", project_dir=project)
    assert (first.created, second.created, same.created) == (True, True, False)
    assert (first.version.version, second.version.version, same.version.version) == (1, 2, 1)
    store = Store.open(project)
    assert store.dataset_version("d").version == 2 and store.dataset_version("d").target == "y"
    store.set_current_dataset_version("d", 1)
    assert store.dataset_version("d").rows == 3
    assert [v.version for v in store.dataset_log("d")] == [2, 1]
    import pandas as pd

    # what a version stores is the canonical Parquet of the file (tesla.data.ingest), its sha the version's
    stored = pd.read_parquet(store.artifacts.verify(second.version.sha256))
    assert stored["a"].tolist() == [1, 2, 3, 4] and second.version.format == "parquet"


def test_schema_inference_covers_every_column_type(project: Path, datasets_dir: Path) -> None:
    version = api.load(datasets_dir / "churn.csv", "churn", target="churn", project_dir=project).version
    kinds = {name: col["type"] for name, col in version.schema.items()}
    assert kinds == {"customer_id": "text", "plan": "categorical", "region": "categorical",
                     "tenure_months": "numeric", "monthly_charges": "numeric", "support_calls": "numeric",
                     "autopay": "boolean", "signup_date": "datetime", "churn": "boolean"}


def test_parquet_and_json_lines_load(project: Path, datasets_dir: Path, tmp_path: Path) -> None:
    import pandas as pd

    df = pd.read_csv(datasets_dir / "iris.csv")
    df.to_parquet(tmp_path / "iris.parquet")
    df.to_json(tmp_path / "iris.jsonl", orient="records", lines=True)
    a = api.load(tmp_path / "iris.parquet", "iris_pq", target="target", project_dir=project).version
    b = api.load(tmp_path / "iris.jsonl", "iris_js", target="target", project_dir=project).version
    # both are stored as canonical Parquet; the version keeps where it came from
    assert (a.format, a.rows, b.format, b.rows) == ("parquet", 150, "parquet", 150)
    assert b.source.endswith("iris.jsonl") and a.schema == b.schema


def test_data_diff_names_added_removed_and_retyped_columns(project: Path, tmp_path: Path) -> None:
    from tests.conftest import run_tesla

    (tmp_path / "v1.csv").write_text("a,b,y\n1,x,0\n2,y,1\n")
    (tmp_path / "v2.csv").write_text("a,c,y\nq,1,0\nr,2,1\ns,3,0\n")
    api.load(tmp_path / "v1.csv", "d", target="y", project_dir=project)
    api.load(tmp_path / "v2.csv", "d", project_dir=project)
    out = run_tesla("data", "diff", "d", "1", "2", cwd=project).stdout
    assert "rows 2 -> 3" in out and "added: c" in out and "removed: b" in out
    assert "retyped: a numeric -> categorical" in out
