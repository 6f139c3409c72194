"""Dataset versions: show, row-level diff (with and without a key), export round trips, tags and gc safety."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tesla.errors import DataError, DataNotFoundError
from tesla.project import Project
from tesla.store import Store
from tests.conftest import run_tesla, stand_in_bundle


def _v1() -> pd.DataFrame:
    return pd.DataFrame({"id": range(30), "a": [i * 1.5 for i in range(30)], "c": ["x", "y", "z"] * 10,
                         "y": [i % 2 for i in range(30)]})


def _v2() -> pd.DataFrame:
    """10 rows deleted (ids 0-9), 3 added (100-102), 2 edited (ids 10, 11 change 'a')."""
    frame = _v1()[_v1()["id"] >= 10].copy()
    frame.loc[frame["id"] == 10, "a"] = -1.0
    frame.loc[frame["id"] == 11, "a"] = -2.0
    added = pd.DataFrame({"id": [100, 101, 102], "a": [1000.0, 1001.0, 1002.0], "c": ["x", "x", "x"], "y": [1, 0, 1]})
    return pd.concat([frame, added], ignore_index=True)


@pytest.fixture
def two(project: Path, tmp_path: Path) -> Path:
    for n, frame in ((1, _v1()), (2, _v2())):
        frame.to_csv(tmp_path / f"v{n}.csv", index=False)
        Project(project).data.load(tmp_path / f"v{n}.csv", "d", target="y")
    return project


def test_a_keyed_diff_counts_added_removed_and_changed_rows(two: Path) -> None:
    d = Project(two).data.diff("d", 1, 2, key=["id"])
    assert Project(two).data.diff("d", 1, 2, key=["id", "c"]).rows.examples_changed[0] == {"id": 10, "c": "y",
                                                                                         "a": [15.0, -1.0]}
    r = d.rows
    assert (d.rows_old, d.rows_new) == (30, 23)
    assert (r.added, r.removed, r.changed, r.unchanged) == (3, 10, 2, 18)
    assert r.examples_changed[0] == {"id": 10, "a": [15.0, -1.0]}
    assert [e["id"] for e in r.examples_added] == [100, 101, 102] and r.examples_removed[0]["id"] == 0
    by_column = {c.column: c for c in r.columns}
    assert by_column["a"].changed == 2 and by_column["c"].changed == 0 and by_column["a"].measure == "ks"
    assert by_column["c"].measure == "tvd" and 0 < by_column["c"].shift < 1


def test_without_a_key_rows_are_compared_by_hash(two: Path) -> None:
    r = Project(two).data.diff("d", 1, 2).rows
    assert (r.key, r.added, r.removed, r.changed, r.unchanged) == ([], 5, 12, None, 18)


def test_identical_versions_and_the_declared_key(two: Path, tmp_path: Path) -> None:
    data = Project(two).data
    assert data.diff("d", 2, 2).same_content and data.diff("d", 2, 2).rows.added == 0
    (two / "conf" / "data" / "d.yaml").write_text("expect: {key: [id]}\n")
    assert data.diff("d", 1, 2).rows.changed == 2  # the declared key is the default


@pytest.mark.parametrize("key, message", [
    (["nope"], r"--key nope: no such column in d@1; its columns: id, a, c, y"),
    (["c"], r"--key c does not identify rows in d@1: 27 rows repeat a key \(first \{'c': 'x'\}\)"),
])
def test_a_bad_key_is_one_line(two: Path, key: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        Project(two).data.diff("d", 1, 2, key=key)


def test_the_cli_diff_takes_both_forms_and_shows_examples(two: Path) -> None:
    new = run_tesla("data", "diff", "d@1", "d@2", "--key", "id", cwd=two).stdout
    assert "rows by key id: 3 added, 10 removed, 2 changed, 18 unchanged" in new
    assert 'changed: {"id": 10, "a": [15.0, -1.0]}' in new and 'added: {"id": 100' in new
    old = run_tesla("data", "diff", "d", "1", "2", cwd=two).stdout
    assert "rows 30 -> 23" in old and "by row hash" in old
    mixed = run_tesla("data", "diff", "d@1", "e@2", cwd=two, check=False)
    assert mixed.returncode == 2 and "diff compares two versions of one dataset; got 'd' and 'e'" in mixed.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_export_loads_back_as_the_same_version(two: Path, tmp_path: Path, suffix: str) -> None:
    data = Project(two).data
    out = data.export("d@1", tmp_path / "out" / f"d1{suffix}")
    assert out.rows == 30 and out.path.is_file()
    again = data.load(out.path, "d")
    assert not again.created and again.version.version == 1  # same content: the same version


def test_export_refuses_an_unknown_suffix(two: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot export to '.*d\.xlsx': name a file ending in \.csv, \.parquet"):
        Project(two).data.export("d@1", tmp_path / "d.xlsx")


def test_tags_name_versions_and_move(two: Path) -> None:
    data = Project(two).data
    assert data.tag("d@1", "clean").moved_from is None
    assert data.show("d@clean").version.version == 1 and data.show("d@clean").tags == ["clean"]
    assert data.diff("d", "clean", 2, key=["id"]).rows.removed == 10
    assert data.tag("d@2", "clean").moved_from == 1
    with pytest.raises(DataNotFoundError, match=r"dataset 'd' has no version or tag 'gone'; its tags: clean"):
        data.show("d@gone")
    with pytest.raises(DataError, match=r"tag '7' must be a word that is not a number"):
        data.tag("d@1", "7")


def test_show_names_the_models_trained_on_a_version(two: Path, tmp_path: Path) -> None:
    store = Store.open(two)
    store.register_model("m", bundle_sha=stand_in_bundle(store, tmp_path / "bundle"), framework="scikit-learn", task="binary", run_id=None, dataset="d",
                         dataset_version=1, plan_fingerprint=None, metrics={}, config={})
    shown = Project(two).data.show("d@1")
    assert shown.models == ["m@1"] and not shown.current
    out = run_tesla("data", "show", "d@1", cwd=two).stdout
    assert "d@1: 30 rows, 4 columns" in out and "models: m@1" in out and "source: " in out


def test_gc_keeps_every_referenced_version_and_says_what_it_freed(project: Path, tmp_path: Path) -> None:
    data = Project(project).data
    versions = []
    for n in range(1, 6):
        _v1().assign(a=float(n)).to_csv(tmp_path / f"g{n}.csv", index=False)
        versions.append(data.load(tmp_path / f"g{n}.csv", "g").version)
    store = Store.open(project)
    store.register_model("m", bundle_sha=stand_in_bundle(store, tmp_path / "bundle"), framework="scikit-learn", task="binary", run_id=None, dataset="g",
                         dataset_version=1, plan_fingerprint=None, metrics={}, config={})
    data.tag("g@2", "keep")
    data.rollback("g", 4)  # current 4, newest 5: only 3 is referenced by nothing
    dry = data.gc(dry_run=True)
    assert dry.removed == ["g@3"] and store.artifacts.exists(versions[2].sha256)
    done = data.gc()
    assert done.removed == ["g@3"] and done.files == 1 and done.freed_bytes > 0
    assert done.kept == {"g@1": "model m@1", "g@2": "tag keep", "g@4": "current", "g@5": "newest"}
    assert not store.artifacts.exists(versions[2].sha256)
    for v in (1, 2, 4, 5):
        assert store.artifacts.exists(versions[v - 1].sha256) and data.version("g", v).version == v
    with pytest.raises(DataNotFoundError, match="dataset 'g' has no version 3"):
        data.version("g", 3)
    assert run_tesla("data", "gc", cwd=project).stdout.startswith("Nothing to delete: every version is referenced")
