"""The bad-input corpus, data files: what a user hits at load, train, evaluate and predict.

Each refused file gives one ``Error:`` line naming the file and the column, line or value at
fault and the fix, exit 1, no traceback, and leaves the store as it was. Alongside, the inputs
Tesla accepts on purpose: column names and categories holding any characters (the estimator
sees safe names, users keep theirs), a datetime column mixing time zones (converted to UTC),
and ``inf`` in a feature (missing, with a warning at load).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_tesla, store_snapshot
from tests.reliability.corpus import Outcome, assert_one_error, assert_refused, cli

N = 120


def _frame(n: int = N) -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "c": rng.choice(["a", "b", "c"], n),
                         "y": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no")})


def _csv(text: str) -> Callable[[Path], None]:
    return lambda p: p.write_text(text)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _jsonl(rows: list[dict[str, object]]) -> Callable[[Path], None]:
    return lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _good_with(**changes: object) -> Callable[[Path], None]:
    """The good frame with columns replaced or added (a value or a per-row callable), as CSV or Parquet."""
    def write(p: Path) -> None:
        df = _frame()
        for name, value in changes.items():
            df[name] = value(df) if callable(value) else value
        df.to_parquet(p, index=False) if p.suffix == ".parquet" else df.to_csv(p, index=False)
    return write


def _parquet_map(p: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"x": list(range(N)), "m": pa.array([[("k", 1)]] * N, type=pa.map_(pa.string(), pa.int64())),
                      "y": [i % 2 for i in range(N)]})
    pq.write_table(table, p)


def _inf_at(rows: list[int], column: str) -> Callable[[object], object]:
    def put(df: object) -> object:
        values = df[column].astype("float64").copy() if column != "y" else df["x"].copy()
        for r in rows:
            values.iloc[r] = float("inf") if r % 2 else float("-inf")
        return values
    return put


def _parquet_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    _frame().to_parquet(buf, index=False)
    return buf.getvalue()


# case id -> (file name, how to write it, --target, regex the one line must match)
LOAD_CASES: dict[str, tuple[str, Callable[[Path], None], str, str]] = {
    "empty-file": ("empty.csv", _csv(""), "y", r"empty\.csv' is empty"),
    "header-only": ("header.csv", _csv("x,c,y\n"), "y", r"header\.csv' has no rows"),
    "blank-header": ("blank.csv", _csv(",,\n1,2,3\n"), "y", r"blank\.csv' has no header row"),
    "duplicate-columns": ("dup.csv", _csv("x,c,x,y\n" + "1,a,2,yes\n" * 20), "y",
                          r"dup\.csv' has two columns named 'x'; rename or drop one"),
    "target-not-a-column": ("good.csv", _good_with(), "yy", r"target column 'yy' is not in .*Did you mean 'y'\?"),
    "target-all-missing": ("nolabels.csv", _good_with(y=None), "y", r"target 'y' in .*nolabels\.csv' has no values"),
    "target-single-class": ("oneclass.csv", _good_with(y="yes"), "y",
                            r"target 'y' in .*oneclass\.csv' has a single value \('yes'\)"),
    "target-inf": ("inftarget.csv", _good_with(y=_inf_at([4, 7], "y")), "y",
                   r"target 'y' in .*inftarget\.csv' holds inf/-inf at rows 5, 8; replace or drop"),
    "one-row": ("onerow.csv", _csv("x,c,y\n1,a,yes\n"), "y", r"onerow\.csv' has 1 labelled row; training needs at least"),
    "one-labelled-row": ("onelabel.csv", _good_with(y=lambda df: df["y"].where(df.index < 1)), "y",
                         r"onelabel\.csv' has 1 labelled row"),
    "binary-garbage-as-csv": ("garbage.csv", _bytes(bytes(range(256)) * 8), "y", r"garbage\.csv' holds binary data"),
    "parquet-named-csv": ("table.csv", lambda p: p.write_bytes(_parquet_bytes()), "y",
                          r"table\.csv' is a Parquet file.*rename it to end in \.parquet"),
    "spreadsheet-named-csv": ("sheet.csv", _bytes(b"PK\x03\x04" + b"\x00" * 100), "y",
                              r"sheet\.csv' is a zip archive.*export it as CSV"),
    "unknown-extension": ("data.xls", _csv("x,y\n1,2\n"), "y", r"cannot tell the format of .*data\.xls'; use a file"),
    "no-extension": ("data", _csv("x,y\n1,2\n"), "y", r"cannot tell the format of .*data'"),
    "latin1-csv": ("latin1.csv", _bytes("x,c,y\n1,caf\u00e9,yes\n".encode("latin-1")), "y",
                   r"latin1\.csv' is not UTF-8: line 2 holds byte 0xe9 .*save the file as UTF-8"),
    "ragged-csv-row": ("ragged.csv", _csv("x,c,y\n1,a,yes\n2,b,no,extra\n3,c,no\n"), "y",
                       r"ragged\.csv' line 3 has 4 fields but the header has 3"),
    "ragged-tsv-row": ("ragged.tsv", _csv("x\tc\ty\n1\ta\tyes\n2\tb\tno\textra\n"), "y",
                       r"ragged\.tsv' line 3 has 4 fields but the header has 3"),
    "jsonl-nested-object": ("nested.jsonl", _jsonl([{"x": i, "meta": {"a": i}, "y": i % 2} for i in range(N)]), "y",
                            r"column 'meta' in .*nested\.jsonl' holds nested values \(objects.*flatten it .* or drop it"),
    "jsonl-nested-array": ("tags.jsonl", _jsonl([{"x": i, "tags": [1, 2], "y": i % 2} for i in range(N)]), "y",
                           r"column 'tags' in .*tags\.jsonl' holds nested values \(lists"),
    "jsonl-nested-late-row": ("late.jsonl", _jsonl([{"x": i, "v": [i] if i == 50 else i, "y": i % 2}
                                                    for i in range(N)]), "y",
                              r"column 'v' in .*late\.jsonl' holds nested values \(lists, first at row 51\)"),
    "jsonl-not-json": ("broken.jsonl", _csv('{"x": 1, "y": 0}\n{"x": 2, "y": \n'), "y",
                       r"cannot read .*broken\.jsonl' as jsonl"),
    "parquet-list-column": ("list.parquet", _good_with(lst=lambda df: [[1, 2]] * len(df)), "y",
                            r"column 'lst' in .*list\.parquet' holds nested values \(lists"),
    "parquet-struct-column": ("struct.parquet", _good_with(st=lambda df: [{"a": 1}] * len(df)), "y",
                              r"column 'st' in .*struct\.parquet' holds nested values \(objects"),
    "parquet-map-column": ("map.parquet", _parquet_map, "y", r"column 'm' in .*map\.parquet' holds nested values"),
    "parquet-corrupt": ("corrupt.parquet", _bytes(b"PAR1 this is not really parquet"), "y",
                        r"cannot read .*corrupt\.parquet' as parquet"),
}


@pytest.fixture(scope="module")
def data_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project holding one good dataset (so an unchanged store is a real check)."""
    from tesla import api

    root = api.init_project(tmp_path_factory.mktemp("data") / "proj")
    _good_with()(root / "data" / "good.csv")
    api.load(root / "data" / "good.csv", "good", target="y", project_dir=root)
    return root


@pytest.mark.parametrize("name,write,target,names", LOAD_CASES.values(), ids=LOAD_CASES.keys())
def test_a_bad_file_is_refused_at_load(name: str, write: Callable[[Path], None], target: str, names: str,
                                       data_project: Path, tmp_path: Path) -> None:
    path = tmp_path / name
    write(path)
    assert_refused(data_project, "load", "-d", str(path), "-o", "bad", "--target", target, names=names)


def test_a_missing_file_and_a_directory_are_refused(data_project: Path, tmp_path: Path) -> None:
    assert_refused(data_project, "load", "-d", str(tmp_path / "nope.csv"), "-o", "bad", names=r"nope\.csv' does not exist")
    assert_refused(data_project, "load", "-d", str(tmp_path), "-o", "bad", names=r"is a directory")


# -- train from a bad data.source: refused when it is loaded, before anything is stored --------------
TRAIN_CASES = {
    "train-source-nested": ("nested.jsonl", "jsonl-nested-object"),
    "train-source-target-inf": ("inftarget.csv", "target-inf"),
    "train-source-latin1": ("latin1.csv", "latin1-csv"),
}


@pytest.mark.parametrize("name,load_case", TRAIN_CASES.values(), ids=TRAIN_CASES.keys())
def test_train_refuses_a_bad_data_source(name: str, load_case: str, data_project: Path, tmp_path: Path) -> None:
    _, write, target, names = LOAD_CASES[load_case]
    write(tmp_path / name)
    assert_refused(data_project, "train", "-m", "m", "-p", "1", f"data.source={tmp_path / name}", f"data.target={target}",
                   names=names)


# -- train on a stored dataset version that cannot be learned from: refused by the load step ------------
# (a dataset version without a target, or a tiny one, is fine to store; training it is not). The failed
# run is recorded, as every failed run is; no model version is registered.
STEP_CASES = {
    "train-too-few-rows": ("five.csv", _csv("x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n"), [],
                           r"dataset 'd@1' has 5 labelled rows; training needs at least 10"),
    "train-target-inf-set-at-train": ("inf.csv", LOAD_CASES["target-inf"][1], ["data.target=y"],
                                      r"target 'y' in dataset 'd@1' holds inf/-inf at rows 5, 8"),
    "train-target-single-class-set-at-train": ("one.csv", LOAD_CASES["target-single-class"][1], ["data.target=y"],
                                               r"target 'y' in dataset 'd@1' has a single value \('yes'\)"),
}


@pytest.mark.parametrize("name,write,overrides,names", STEP_CASES.values(), ids=STEP_CASES.keys())
def test_train_refuses_a_dataset_it_cannot_learn(name: str, write: Callable[[Path], None], overrides: list[str],
                                                 names: str, tmp_path: Path) -> None:
    from tesla import api

    root = api.init_project(tmp_path / "proj")
    write(root / "data" / name)
    api.load(root / "data" / name, "d", target=None if overrides else "y", project_dir=root)
    outcome = cli("train", "-m", "m", "-p", "1", *overrides, cwd=root)
    assert_one_error(outcome, code=1, names=names)
    assert "models" not in store_snapshot(root)[0]  # nothing registered


# -- evaluate and predict with a trained model --------------------------------------------------------
@pytest.fixture(scope="module")
def model_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with model 'm' (one lgbm trial on 120 rows: x numeric, c categorical, y yes/no)."""
    from tesla import api

    root = api.init_project(tmp_path_factory.mktemp("model") / "proj")
    _good_with()(root / "data" / "good.csv")
    api.load(root / "data" / "good.csv", "good", target="y", project_dir=root)
    api.train("m", max_iter=1, overrides=["search.estimators=[lgbm]"], project_dir=root)
    return root


def _without(column: str) -> Callable[[Path], None]:
    return lambda p: _frame().drop(columns=[column]).to_csv(p, index=False)


# case id -> (command, file name, how to write it, regex)
SCORE_CASES: dict[str, tuple[str, str, Callable[[Path], None], str]] = {
    "evaluate-missing-feature": ("evaluate", "nofeat.csv", _without("c"),
                                 r"nofeat\.csv' lacks the feature column 'c' the model was trained on; add it"),
    "evaluate-text-in-numeric": ("evaluate", "text.csv", _good_with(x=lambda df: ["abc"] * len(df)),
                                 r"column 'x' in .*text\.csv' must be numeric.*'abc'"),
    "evaluate-one-bad-number": ("evaluate", "onebad.csv",
                                _good_with(x=lambda df: df["x"].astype(str).where(df.index != 9, "12,5")),
                                r"column 'x' in .*onebad\.csv' must be numeric, as in training; row 10 holds '12,5'"),
    "evaluate-without-target": ("evaluate", "nolabel.csv", _without("y"),
                                r"nolabel\.csv' has no target column 'y'.*needs labelled rows"),
    "evaluate-nested-jsonl": ("evaluate", "nested.jsonl", LOAD_CASES["jsonl-nested-object"][1],
                              r"column 'meta' in .*nested\.jsonl' holds nested values"),
    "evaluate-latin1": ("evaluate", "latin1.csv", LOAD_CASES["latin1-csv"][1], r"latin1\.csv' is not UTF-8"),
    "evaluate-empty": ("evaluate", "empty.csv", _csv(""), r"empty\.csv' is empty"),
    "predict-missing-feature": ("predict", "nofeat.csv", _without("x"),
                                r"nofeat\.csv' lacks the feature column 'x' the model was trained on"),
    "predict-text-in-numeric": ("predict", "text.csv", _good_with(x=lambda df: ["abc"] * len(df)),
                                r"column 'x' in .*text\.csv' must be numeric.*rows 1, 2, 3 and 117 more hold 'abc'"),
    "predict-ragged": ("predict", "ragged.csv", LOAD_CASES["ragged-csv-row"][1], r"ragged\.csv' line 3 has 4 fields"),
    "predict-binary": ("predict", "garbage.csv", LOAD_CASES["binary-garbage-as-csv"][1], r"garbage\.csv' holds binary"),
    "predict-parquet-list": ("predict", "list.parquet", LOAD_CASES["parquet-list-column"][1],
                             r"column 'lst' in .*list\.parquet' holds nested values"),
}


@pytest.mark.parametrize("command,name,write,names", SCORE_CASES.values(), ids=SCORE_CASES.keys())
def test_bad_rows_to_score_are_refused(command: str, name: str, write: Callable[[Path], None], names: str,
                                       model_project: Path, tmp_path: Path) -> None:
    path = tmp_path / name
    write(path)
    assert_refused(model_project, command, "-m", "m", "-d", str(path), names=names)


# -- accepted on purpose --------------------------------------------------------------------------------
SPECIAL = ['a"b', "c:d", "e,f", "[g]", "{h}", "x<y", "new\nline", "caf\u00e9 \u6570", "n" * 300, "p q", "p_q"]


def _special_frame() -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    df = pd.DataFrame({name: rng.normal(size=N) for name in SPECIAL})
    # categories with JSON characters; "k=v" one-hot columns collide with a numeric column named "k=v"
    df["k"] = rng.choice(['q"u:o,te', "[x]", "{z}", "v"], N)
    df["k=v"] = rng.normal(size=N)
    df["y"] = np.where(df['a"b'] + df["k=v"] > 0, "yes", "no")
    return df


def test_any_column_name_or_category_trains_with_lightgbm_and_predicts(tmp_path: Path) -> None:
    from tesla import api
    from tesla.models import load_bundle

    root = api.init_project(tmp_path / "proj")
    df = _special_frame()
    df.to_parquet(root / "data" / "special.parquet", index=False)
    api.load(root / "data" / "special.parquet", "special", target="y", project_dir=root)
    trained = api.train("m", max_iter=1, overrides=["search.estimators=[lgbm]"], project_dir=root)
    assert trained.model.config["best_estimator"] == "lgbm"
    out = api.predict("m", root / "data" / "special.parquet", project_dir=root)
    assert set(out["prediction"]) <= {"yes", "no"} and len(out) == N
    bundle = load_bundle(api.open_store(root).artifacts.path(trained.model.bundle_sha))
    assert [f["name"] for f in bundle.signature] == [*SPECIAL, "k", "k=v"]  # serving keeps the users' names
    assert 'k=q"u:o,te' in bundle.preprocessor.output_columns  # reports too
    assert bundle.estimator.n_features_in_ == len(bundle.preprocessor.model_columns)


def test_model_column_names_are_safe_unique_and_keep_safe_names() -> None:
    from tesla.models.preprocess import model_column_names

    names = model_column_names(["age", "a=b", "d.month", 'a"b', "a_b", "p q", "p_q", "", "x<y", "[g]"])
    assert names[:3] == ["age", "a=b", "d.month"]  # already safe: unchanged, so older bundles still fit
    assert names[3] == "a_b" and names[4] == "a_b__2"
    assert names[5] == "p q" and names[6] == "p_q__2"  # LightGBM turns "p q" into "p_q" itself
    assert names[7] == "_" and names[8] == "x_y" and names[9] == "_g_"
    assert len({n.replace(" ", "_") for n in names}) == len(names)


def test_a_datetime_column_mixing_time_zones_is_converted_to_utc(tmp_path: Path) -> None:
    import pandas as pd

    from tesla import api
    from tesla.data import parse_datetimes

    when = ["2024-01-01T00:00:00+01:00", "2024-01-02T00:00:00-05:00", "2024-01-03T12:00:00"]
    parsed = parse_datetimes(pd.Series(when))
    assert [t.isoformat() for t in parsed] == ["2023-12-31T23:00:00+00:00", "2024-01-02T05:00:00+00:00",
                                               "2024-01-03T12:00:00+00:00"]
    root = api.init_project(tmp_path / "proj")
    df = _frame()
    df["when"] = (when * N)[:N]
    df.to_csv(root / "data" / "tz.csv", index=False)
    loaded = api.load(root / "data" / "tz.csv", "tz", target="y", project_dir=root)
    assert loaded.version.schema["when"]["type"] == "datetime"
    api.train("m", max_iter=1, overrides=["search.estimators=[lgbm]", "data.split.time_column=when"],
              project_dir=root)
    out = api.predict("m", root / "data" / "tz.csv", project_dir=root)
    assert len(out) == N


def test_inf_in_a_feature_is_missing_everywhere_with_a_warning_at_load(tmp_path: Path) -> None:
    import numpy as np

    from tesla import api

    root = api.init_project(tmp_path / "proj")
    df = _frame()
    df.loc[[3, 5], "x"] = [np.inf, -np.inf]
    df.to_csv(root / "data" / "inf.csv", index=False)
    outcome = cli("load", "-d", "data/inf.csv", "-o", "inf", "--target", "y", cwd=root)
    assert outcome.code == 0, outcome.err
    assert "warning: column 'x' holds inf/-inf at rows 4, 6; they count as missing values" in outcome.err
    api.train("m", max_iter=1, overrides=["search.estimators=[xgboost]"], project_dir=root)  # XGBoost refuses inf
    as_inf = api.predict("m", root / "data" / "inf.csv", project_dir=root)
    df.loc[[3, 5], "x"] = np.nan
    df.to_csv(root / "data" / "nan.csv", index=False)
    as_nan = api.predict("m", root / "data" / "nan.csv", project_dir=root)
    assert as_inf["proba_yes"].tolist() == as_nan["proba_yes"].tolist()
    result = api.evaluate("m", root / "data" / "inf.csv", project_dir=root)
    assert result.rows == N


# -- the same through the installed executable -------------------------------------------------------
E2E = ["jsonl-nested-object", "latin1-csv", "target-inf"]


@pytest.mark.e2e
@pytest.mark.parametrize("case", E2E)
def test_a_bad_file_is_one_line_from_the_real_executable(case: str, data_project: Path, tmp_path: Path) -> None:
    name, write, target, names = LOAD_CASES[case]
    write(tmp_path / name)
    before = store_snapshot(data_project)
    proc = run_tesla("load", "-d", str(tmp_path / name), "-o", "bad", "--target", target, cwd=data_project,
                     check=False, timeout=120)
    assert_one_error(Outcome(proc.returncode, proc.stdout, proc.stderr), code=1, names=names)
    assert store_snapshot(data_project) == before
