"""search.onehot_max_levels: how wide the encoded frame gets (issue 10: one-hot widening flipped cv to holdout)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tesla.models import Preprocessor

FRAME = pd.DataFrame({"colour": ["red", "blue", "red", "green", None], "size": [1.0, 2.0, None, 4.0, 5.0]})
SCHEMA = {"colour": {"type": "categorical"}, "size": {"type": "numeric"}}


@pytest.mark.parametrize(("onehot_max", "columns"), [
    (15, ["colour=red", "colour=blue", "colour=green", "size"]),  # the default: few levels, one column each
    (2, ["colour", "size"]),  # three levels > 2: one ordinal column (codes by training frequency)
    (0, ["colour", "size"]),
], ids=["default", "below-levels", "ordinal-only"])
def test_onehot_max_sets_the_width_of_the_frame(onehot_max: int, columns: list[str]) -> None:
    pre = Preprocessor.fit(FRAME, SCHEMA, onehot_max=onehot_max)
    assert pre.output_columns == columns
    encoded = pre.transform(FRAME)
    if onehot_max < 3:  # the most frequent category gets code 0; a missing value -1
        assert encoded["colour"].tolist() == [0.0, 1.0, 0.0, 2.0, -1.0]


def test_native_codes_every_categorical_in_one_column_with_absent_values_as_one_more_code() -> None:
    pre = Preprocessor.fit(FRAME, SCHEMA, native=True)
    assert pre.output_columns == ["colour", "size"]
    assert pre.native_columns == [0]
    # codes by training frequency; missing is code 3 (len(categories)): LightGBM warns on negative categories
    assert pre.transform(FRAME)["colour"].tolist() == [0.0, 1.0, 0.0, 2.0, 3.0]
    unseen = pd.DataFrame({"colour": ["purple", None, "green"], "size": [1.0, 1.0, 1.0]})
    assert pre.transform(unseen, unseen="unknown")["colour"].tolist() == [3.0, 3.0, 2.0]
    compiled = pre.compile().records(unseen.to_dict("records"), unseen="unknown")
    assert compiled[:, 0].tolist() == [3.0, 3.0, 2.0]  # the served path agrees with the pandas one


def test_the_default_encoding_names_no_native_columns() -> None:
    assert Preprocessor.fit(FRAME, SCHEMA).native_columns == []
    assert Preprocessor.fit(FRAME, SCHEMA, onehot_max=0).native_columns == []  # ordinal codes: numbers for all


def _category_splits(booster: object) -> set[str]:
    found: set[str] = set()

    def walk(node: dict) -> None:
        if "decision_type" in node:
            found.add(node["decision_type"])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:  # type: ignore[attr-defined]
        walk(tree["tree_structure"])
    return found


@pytest.fixture(scope="module")
def churn_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    from tesla import api

    root = api.init_project(tmp_path_factory.mktemp("native") / "proj")
    api.load(datasets_dir / "churn.csv", "churn", target="churn", project_dir=root)
    return root


def test_native_trains_a_lightgbm_that_splits_on_categories_and_serves_them(churn_project: Path) -> None:
    import warnings

    import numpy as np

    from tesla import api
    from tesla.models import load_bundle

    overrides = ["search.estimators=[lgbm]", "search.categoricals=native", "data.exclude=[customer_id]"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = api.train("native", max_iter=4, overrides=overrides, project_dir=churn_project)
    assert not [w for w in caught if "categorical_feature" in str(w.message)]  # LightGBM's note is not the user's
    bundle = load_bundle(api.open_store(churn_project).artifacts.path(result.model.bundle_sha))
    assert [f["encoding"] for f in bundle.preprocessor.features if f["type"] == "categorical"] == ["native", "native"]
    booster = bundle.estimator.booster_
    assert "==" in _category_splits(booster)  # a category split: LightGBM was told which columns are codes
    rows = [{"plan": "premium", "region": "north", "tenure_months": 3, "monthly_charges": 90.0, "support_calls": 4,
             "autopay": False, "signup_date": "2021-05-01"}, {"plan": None, "region": "nowhere"}]
    served = bundle.predict_request(rows, unseen="unknown")
    frame = bundle.predict_records(pd.DataFrame(rows), unseen="unknown")
    assert served == frame
    assert all(np.isclose(sum(r["probabilities"].values()), 1.0) for r in served)
    assert result.search["best_config"]["categorical_feature"] == ",".join(map(str, bundle.preprocessor.native_columns))


def test_categoricals_is_in_the_plan_only_when_native(churn_project: Path) -> None:
    from tesla import api

    default = api.compile_plan("m", max_iter=5, project_dir=churn_project).step("search")
    native = api.compile_plan("m", max_iter=5, overrides=["search.categoricals=native"],
                              project_dir=churn_project).step("search")
    assert "categoricals" not in default.params
    assert native.params["categoricals"] == "native"
    assert native.fingerprint != default.fingerprint


def test_an_unknown_categoricals_value_names_the_key_and_the_choices(project: Path) -> None:
    from tesla.config import compose
    from tesla.errors import ConfigError

    with pytest.raises(ConfigError, match=r"search\.categoricals.*onehot.*native"):
        compose(["search.categoricals=target"], project_dir=project)
