"""Declared schemas and expectations (conf/data/NAME.yaml), schema changes between versions, column warnings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tesla.errors import ConfigError, DataError
from tesla.execution import Event
from tesla.project import Project
from tests.conftest import run_tesla, store_snapshot

DECLARED = """\
schema:
  id: {type: numeric, unique: true, nullable: false}
  age: {type: numeric, min: 0, max: 130}
  plan: {type: categorical, allowed: [free, pro]}
  y: {type: numeric}
expect: {key: [id], min_rows: 3, max_rows: 100}
"""


def _good(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"id": range(100, 100 + n), "age": [20 + i % 50 for i in range(n)],
                         "plan": ["free", "pro"] * (n // 2), "y": [i % 3 for i in range(n)]})


def _declare(project: Path, text: str = DECLARED) -> None:
    (project / "conf" / "data" / "people.yaml").write_text(text)


def _load(project: Path, frame: pd.DataFrame, tmp_path: Path, name: str = "people", **kw: object) -> list[str]:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    said: list[str] = []
    Project(project).data.load(path, name, on_event=lambda e: said.append(e.data["text"]) if e.kind == "message"
                               else None, **kw)
    return said


def _broken(**changes: object) -> pd.DataFrame:
    frame = _good()
    for column, (row, value) in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize("frame, line", [
    (_broken(age=(4, -3)), r"  age: 1 values below min 0 \(row 5: -3\)"),
    (_broken(age=(7, 200)), r"  age: 1 values above max 130 \(row 8: 200\)"),
    (_broken(plan=(2, "gold")), r"  plan: 1 values not in allowed \[free, pro\] \(row 3: 'gold'\)"),
    (_broken(id=(9, 100)), r"  id: 1 repeated values \(declared unique\) \(row 10: 100\)"),
    (_broken(id=(3, None)), r"  id: 1 missing values \(declared nullable: false\) \(row 4: nan\)"),
    (_broken(age=(1, "old")), r"  age: type categorical \(dtype str\), declared numeric"),
    (_good().drop(columns=["plan"]), r"  plan: declared but missing from the data"),
    (_good().assign(extra=1), r"  columns not in the declared schema: extra \(declare them, or set "
                              r"data.expect.other_columns: warn\)"),
    (_good(2), r"  rows: 2, fewer than expect.min_rows 3"),
    (_good(102), r"  rows: 102, more than expect.max_rows 100"),
], ids=["min", "max", "allowed", "unique", "nullable", "type", "missing-column", "other-column", "min-rows",
        "max-rows"])
def test_each_broken_rule_is_counted_with_example_rows_and_nothing_is_stored(project: Path, tmp_path: Path,
                                                                             frame: pd.DataFrame, line: str) -> None:
    _declare(project)
    before = store_snapshot(project)
    with pytest.raises(DataError, match=r"people\.csv' breaks the declared schema \(conf/data/people\.yaml\): "
                                        r"\d+ problems?; nothing was stored\n(.*\n)*" + line):
        _load(project, frame, tmp_path)
    assert store_snapshot(project) == before


def test_a_repeated_key_and_several_problems_are_all_listed(project: Path, tmp_path: Path) -> None:
    _declare(project, DECLARED.replace("unique: true, ", ""))
    frame = _broken(id=(5, 100), age=(6, -1))
    with pytest.raises(DataError, match=r"2 problems") as info:
        _load(project, frame, tmp_path)
    assert "  age: 1 values below min 0 (row 7: -1)" in str(info.value)
    assert "  key (id): 1 rows repeat a key (rows 6: {'id': 100})" in str(info.value)


def test_a_file_that_keeps_the_rules_loads_and_other_columns_may_be_allowed(project: Path, tmp_path: Path) -> None:
    _declare(project)
    _load(project, _good(), tmp_path)
    _declare(project, DECLARED.replace("max_rows: 100}", "max_rows: 100, other_columns: warn}"))
    said = _load(project, _good().assign(note="x"), tmp_path)
    assert "warning: columns not in the declared schema of conf/data/people.yaml: note" in said


@pytest.mark.parametrize("text, message", [
    ("schema:\n  age: {typ: numeric}\n", r"conf/data/people\.yaml: Key 'typ' not in 'ColumnRulesConfig'"),
    ("schema:\n  age: {type: number}\n", r"conf/data/people\.yaml: data\.schema\.age\.type is 'number'; allowed: "
                                         r"numeric, categorical, boolean, datetime, text"),
    ("expect: {other_columns: maybe}\n", r"data\.expect\.other_columns is 'maybe'; allowed: refuse, warn, allow"),
    ("expect: {min_rows: many}\n", r"conf/data/people\.yaml: Value 'many' of type 'str' could not be converted to "
                                   r"Integer"),
    ("schema: [\n", r"conf/data/people\.yaml is not valid YAML"),
])
def test_a_bad_declaration_names_the_file_and_key(project: Path, tmp_path: Path, text: str, message: str) -> None:
    _declare(project, text)
    with pytest.raises(ConfigError, match=message):
        _load(project, _good(), tmp_path)


def test_without_a_declaration_schema_changes_are_reported_against_the_current_version(project: Path,
                                                                                      tmp_path: Path) -> None:
    _load(project, _good(), tmp_path, name="free")
    changed = _good().drop(columns=["y"]).assign(plan=["free", "team"] * 20, score=1.5)
    changed["age"] = changed["age"].astype(str) + " years"
    said = _load(project, changed, tmp_path, name="free")
    assert "schema change from free@1: added column: score" in said
    assert "schema change from free@1: removed column: y" in said
    assert "schema change from free@1: column 'age' changed type: numeric -> categorical" in said
    assert "schema change from free@1: column 'plan' has new category: 'team'" in said


def test_the_cli_refuses_a_bad_file_against_the_declaration(project: Path, tmp_path: Path) -> None:
    _declare(project)
    _broken(age=(4, -3)).to_csv(tmp_path / "bad.csv", index=False)
    proc = run_tesla("load", "-d", str(tmp_path / "bad.csv"), "-o", "people", cwd=project, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"\nError: '{tmp_path / 'bad.csv'}' breaks the declared schema" in proc.stderr
    assert "  age: 1 values below min 0 (row 5: -3)" in proc.stderr


@pytest.mark.parametrize("extra, target, warning", [
    ({"y_copy": lambda f: f["y"]}, "y",
     "warning: column 'y_copy' is a copy of the target 'y': a model would learn the answer from it (leakage)"),
    ({"label": lambda f: f["y"].map({0: "no", 1: "yes", 2: "maybe"})}, "y",
     "warning: column 'label' is a function of (one value per target value) the target 'y'"),
    ({"twice": lambda f: f["score"] * 2 + 1}, "score", "warning: column 'twice' is a linear function of the target"),
    ({"Unnamed: 0": lambda f: range(5, 5 + len(f))}, "y", "warning: column 'Unnamed: 0' looks like a row index"),
    ({"n": lambda f: range(len(f))}, "y", "warning: column 'n' looks like a row index (a written pandas index, or "
                                          "0, 1, 2, ... in order)"),
    ({"k": lambda f: "same"}, "y", "warning: column 'k' has one value in every row; it carries no information"),
    ({"blank": lambda f: None}, "y", "warning: column 'blank' has no values"),
], ids=["copy", "function", "linear", "unnamed-index", "counting-index", "constant", "empty"])
def test_column_warnings_name_the_column(project: Path, tmp_path: Path, extra: dict[str, object], target: str,
                                         warning: str) -> None:
    frame = _good().assign(score=[i * 0.37 % 5 for i in range(40)])
    frame = frame.assign(**{k: fn(frame) for k, fn in extra.items()})  # type: ignore[operator]
    frame = frame[[*extra, *(c for c in frame.columns if c not in extra)]]
    said = _load(project, frame, tmp_path, name="warned", target=target)
    assert any(line.startswith(warning) for line in said), said


def test_a_clean_table_gets_no_warning(project: Path, tmp_path: Path) -> None:
    said = _load(project, _good().assign(score=[i * 0.37 % 5 for i in range(40)]), tmp_path, name="clean", target="y")
    assert not [line for line in said if line.startswith("warning")], said


def test_events_are_messages(project: Path, tmp_path: Path) -> None:
    events: list[Event] = []
    _good().to_csv(tmp_path / "g.csv", index=False)
    Project(project).data.load(tmp_path / "g.csv", "g", on_event=events.append)
    assert {e.kind for e in events} <= {"message", "ingest_progress"}
