"""Search depth: estimators, per-estimator search spaces, metric, eval method, ensembling, warm start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.automl.adapter import DOMAIN_TYPES, custom_hp
from tesla.config.search_space import RANGE_TYPES
from tesla.errors import ConfigError
from tesla.models import load_bundle


@pytest.fixture(scope="module")
def bc_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("knobs") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    return root


def _trials(root: Path, result: api.TrainResult) -> list[dict]:
    return api.open_store(root).trials(result.run.run_id)


# -- search_space: the YAML shape, checked at compose time ---------------------------------------------
BAD_SPACES = [
    ("unknown-estimator", "search.search_space={lgmb:{n_estimators:[10,20]}}",
     "search.search_space.lgmb: 'lgmb' is not an estimator of this framework. Did you mean 'lgbm'?"),
    ("unknown-type", "search.search_space={lgbm:{n_estimators:{type:normal,low:1,high:5}}}",
     "search.search_space.lgbm.n_estimators: 'type' must be one of uniform, loguniform"),
    ("low-above-high", "search.search_space={lgbm:{n_estimators:{type:randint,low:50,high:10}}}",
     "search.search_space.lgbm.n_estimators: 'low' (50) must be below 'high' (10)"),
    ("log-needs-positive", "search.search_space={lgbm:{learning_rate:{type:loguniform,low:0,high:1}}}",
     "search.search_space.lgbm.learning_rate: loguniform needs 'low' > 0 (a log scale); got 0"),
    ("int-needs-whole", "search.search_space={lgbm:{num_leaves:{type:randint,low:4.5,high:9}}}",
     "search.search_space.lgbm.num_leaves: randint needs whole-number 'low' and 'high'"),
    ("q-missing", "search.search_space={lgbm:{n_estimators:{type:qrandint,low:10,high:100}}}",
     "search.search_space.lgbm.n_estimators: 'q' must be a number; got None"),
    ("init-outside", "search.search_space={lgbm:{learning_rate:{type:uniform,low:0.1,high:0.3,init:0.5}}}",
     "search.search_space.lgbm.learning_rate: 'init' (0.5) must lie in [low, high] = [0.1, 0.3]"),
    ("unknown-field", "search.search_space={lgbm:{n_estimators:{type:randint,low:1,high:9,step:2}}}",
     "search.search_space.lgbm.n_estimators: unknown field(s) step; allowed:"),
    ("empty-choice", "search.search_space={rf:{criterion:[]}}",
     "search.search_space.rf.criterion: a list means 'one of these values' and may not be empty"),
    ("choice-init", "search.search_space={rf:{criterion:{type:choice,values:[gini,entropy],init:log_loss}}}",
     "search.search_space.rf.criterion: 'init' ('log_loss') must be one of the values ['gini', 'entropy']"),
    ("no-hyperparameters", "search.search_space={rf:{}}", "search.search_space.rf: must map hyperparameter names"),
    ("neural-in-sklearn", "search.search_space={torch_mlp:{width:[8,16]}}",
     "search.search_space.torch_mlp: 'torch_mlp' is not an estimator of this framework."),
]


@pytest.mark.parametrize(("override", "message"), [c[1:] for c in BAD_SPACES], ids=[c[0] for c in BAD_SPACES])
def test_bad_search_space_is_a_one_line_config_error_naming_the_key(project: Path, override: str,
                                                                    message: str) -> None:
    with pytest.raises(ConfigError) as err:
        api.compose_config([override], project_dir=project)
    assert message in str(err.value), str(err.value)
    assert "\n" not in str(err.value) and err.value.key.startswith("search.search_space")


def test_yaml_range_types_and_flaml_domains_agree() -> None:
    assert set(DOMAIN_TYPES) == {*RANGE_TYPES, "choice"}


def test_search_space_becomes_flaml_custom_hp_with_inclusive_integer_bounds() -> None:
    from flaml import tune

    hp = custom_hp({"lgbm": {"n_estimators": {"type": "randint", "low": 4, "high": 9, "init": 4},
                             "num_leaves": [4, 8], "subsample": 0.9,
                             "learning_rate": {"type": "qloguniform", "low": 0.01, "high": 0.5, "q": 0.01}}},
                   task="binary", data_size=(100, 5))["lgbm"]
    # flaml.tune hands out Ray Tune's domain classes when ray is installed (tesla-ml[ray]), its own otherwise
    assert isinstance(hp["n_estimators"]["domain"], type(tune.randint(0, 2)))
    assert (hp["n_estimators"]["domain"].lower, hp["n_estimators"]["domain"].upper) == (4, 10)  # flaml: upper exclusive
    assert hp["n_estimators"]["init_value"] == 4
    assert hp["num_leaves"]["domain"].categories == [4, 8]
    assert hp["subsample"] == {"domain": 0.9}
    assert hp["learning_rate"]["domain"].sampler.q == 0.01


def test_unknown_hyperparameter_is_named_with_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as err:
        custom_hp({"lgbm": {"n_estimatrs": [10, 20]}}, task="binary", data_size=(100, 5))
    assert str(err.value).startswith("search.search_space.lgbm.n_estimatrs: 'lgbm' has no hyperparameter "
                                     "'n_estimatrs'. Did you mean 'n_estimators'? FLAML searches: ")
    assert err.value.key == "search.search_space.lgbm.n_estimatrs"


def test_an_estimators_own_parameter_may_join_the_search() -> None:
    hp = custom_hp({"lgbm": {"min_split_gain": {"type": "uniform", "low": 0.0, "high": 0.5}}},
                   task="regression", data_size=(100, 5))
    assert "min_split_gain" in hp["lgbm"]


def test_search_space_and_estimators_shape_every_trial(bc_project: Path) -> None:
    result = api.train("space", max_iter=4, project_dir=bc_project, overrides=[
        "search.estimators=[lgbm]", "search.eval_method=holdout",
        "search.search_space={lgbm:{n_estimators:{type:randint,low:4,high:12},num_leaves:[4,6]}}"])
    trials = _trials(bc_project, result)
    assert len(trials) == 4 and {t.estimator for t in trials} == {"lgbm"}
    assert all(4 <= t.config["n_estimators"] <= 12 and t.config["num_leaves"] in (4, 6) for t in trials)
    assert result.search["eval_method"] == "holdout"


@pytest.mark.parametrize(("metric", "eval_method"), [("roc_auc", "cv"), ("accuracy", "holdout")])
def test_metric_and_eval_method_reach_flaml(bc_project: Path, metric: str, eval_method: str) -> None:
    result = api.train(f"m_{metric}", max_iter=2, project_dir=bc_project, overrides=[
        "search.estimators=[lgbm]", f"search.metric={metric}", f"search.eval_method={eval_method}",
        "search.n_splits=3"])
    assert result.search["metric"] == metric and result.search["eval_method"] == eval_method
    assert 0.0 <= result.search["best_loss"] < 0.5  # FLAML's loss for a score metric is 1 - score


def test_trial_bounded_search_takes_estimators_in_turn_and_cost_lets_flaml_choose(bc_project: Path) -> None:
    estimators = ["lgbm", "rf", "extra_tree"]
    overrides = [f"search.estimators=[{','.join(estimators)}]", "search.eval_method=holdout"]
    turns = api.train("turns", max_iter=9, overrides=overrides, project_dir=bc_project)
    assert [t.estimator for t in _trials(bc_project, turns)] == estimators * 3  # no timing can reorder them
    cost = api.train("cost", max_iter=9, overrides=[*overrides, "search.learner_selector=cost"],
                     project_dir=bc_project)
    assert cost.run.plan.step("search").params["learner_selector"] == "cost"
    assert [t.estimator for t in _trials(bc_project, cost)] != estimators * 3


def test_unknown_learner_selector_is_refused(project: Path) -> None:
    with pytest.raises(ConfigError) as err:
        api.compose_config(["search.learner_selector=random"], project_dir=project)
    assert str(err.value) == ("override 'search.learner_selector=random': 'search.learner_selector' must be one of "
                              "auto, roundrobin, cost; got 'random'.")


# -- warm start ------------------------------------------------------------------------------------------
def test_previous_versions_best_configs_are_the_next_searchs_first_trials(bc_project: Path) -> None:
    first = api.train("warm", max_iter=6, project_dir=bc_project,
                      overrides=["search.estimators=[lgbm,rf]", "search.eval_method=holdout"])
    per_estimator = first.model.config["best_config_per_estimator"]
    assert set(per_estimator) == {"lgbm", "rf"}
    opening = {}
    for t in _trials(bc_project, first):
        opening.setdefault(t.estimator, t.config)
    assert opening != per_estimator  # the first search moved off FLAML's opening configs, so the check means something
    overrides = ["search.estimators=[lgbm,rf]", "search.eval_method=holdout", "search.starting_points=previous"]
    plan = api.compile_plan("warm", max_iter=2, overrides=overrides, project_dir=bc_project)
    assert plan.step("search").params["starting_points"] == per_estimator
    second = api.train("warm", max_iter=2, overrides=overrides, project_dir=bc_project)
    trials = {t.estimator: t.config for t in _trials(bc_project, second)}
    assert trials == per_estimator  # one trial each, at the earlier version's best


# -- ensembles --------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "target", "stack"), [("bc_train", "target", "VotingClassifier"),
                                                           ("diabetes", "target", "VotingRegressor")])
def test_ensemble_bundle_is_a_trusted_scikit_learn_blend_that_saves_loads_and_predicts(
        project: Path, datasets_dir: Path, dataset: str, target: str, stack: str) -> None:
    api.load(datasets_dir / f"{dataset}.csv", dataset, target=target, project_dir=project)
    result = api.train("ens", max_iter=6, project_dir=project, overrides=[
        "search.ensemble=true", "search.estimators=[lgbm,rf,extra_tree]", "search.eval_method=holdout"])
    assert len(result.search["ensemble"]) >= 2 and result.model.config["ensemble"] == result.search["ensemble"]
    bundle = load_bundle(api.open_store(project).artifacts.path(result.model.bundle_sha))  # refuses untrusted types
    assert type(bundle.estimator).__name__ == stack
    assert bundle.manifest["estimator"] == f"ensemble({'+'.join(result.search['ensemble'])})"
    assert len(result.search["ensemble_weights"]) == len(result.search["ensemble"])
    assert sum(result.search["ensemble_weights"]) == pytest.approx(1.0)
    assert all(not type(e).__module__.startswith("flaml") for e in bundle.estimator.estimators_)
    rows = pd.read_csv(datasets_dir / f"{dataset}.csv").drop(columns=[target]).head(10)
    frame = api.predict("ens", datasets_dir / f"{dataset}.csv", project_dir=project)
    assert list(frame["prediction"].head(10)) == list(bundle.predict(rows))


@pytest.mark.parametrize(("overrides", "named"), [
    (["search.framework=auto", "search.estimators=[lgbm,torch_mlp]"], "torch_mlp"),
    (["search.framework=pytorch"], "-f pytorch's defaults"),
])
def test_ensemble_of_neural_learners_is_refused_at_compose_time(project: Path, overrides: list[str],
                                                                named: str) -> None:
    with pytest.raises(ConfigError) as err:
        api.compose_config(["search.ensemble=true", *overrides], project_dir=project)
    assert str(err.value) == (f"override 'search.ensemble=true': search.ensemble stacks scikit-learn-family "
                              f"learners only, not {named}; list "
                              "scikit-learn learners in search.estimators or set search.ensemble=false")
    assert err.value.key == "search.ensemble"


_SAVE_WITHOUT_TORCH = """
import sys
from pathlib import Path
from sklearn.linear_model import LogisticRegression
from tesla.models.formats import load_weights, save_weights
model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
facts = save_weights("scikit-learn", model, Path(sys.argv[1]))
loaded = load_weights("scikit-learn", Path(sys.argv[1]), facts)
print("torch" in sys.modules, loaded.predict([[3.0]])[0])
import sklearn.externals.array_api_compat.torch  # a real use still gets the real module
print("torch" in sys.modules)
"""


def test_saving_a_bundle_does_not_import_torch(tmp_path: Path) -> None:
    # skops lists scikit-learn's estimators by importing every package, torch's shim included (~2 s)
    out = subprocess.run([sys.executable, "-c", _SAVE_WITHOUT_TORCH, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["False", "1", "True"], out.stderr
