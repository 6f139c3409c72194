"""Composition: the project's conf/ overrides the defaults; both validation phases speak in dotted keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla import api
from tesla.errors import ConfigError, ProjectError


def test_defaults_compose_with_every_group(project: Path) -> None:
    _, cfg = api.compose_config([], project_dir=project)
    assert set(cfg) == {"model", "data", "search", "evaluation", "deploy", "monitor", "backend"}
    assert cfg["backend"]["name"] == "local" and cfg["deploy"]["profile"] == "production"


def test_project_conf_overrides_the_default_tree(project: Path) -> None:
    search = project / "conf" / "search" / "default.yaml"
    search.write_text(search.read_text().replace("max_iter: null", "max_iter: 7"))
    (project / "conf" / "deploy" / "canary.yaml").write_text("profile: canary\nport: 0\n")
    _, cfg = api.compose_config(["deploy=canary"], project_dir=project)
    assert cfg["search"]["max_iter"] == 7
    assert cfg["deploy"]["profile"] == "canary" and cfg["deploy"]["target"] == "local"


def test_backend_groups_get_their_own_schema(project: Path) -> None:
    _, cfg = api.compose_config(["backend=sagemaker", "backend.bucket=b"], project_dir=project)
    assert cfg["backend"]["bucket"] == "b" and cfg["backend"]["instance_type"] == "ml.m5.large"
    with pytest.raises(ConfigError, match="backend.instance_count"):
        api.compose_config(["backend=sagemaker", "backend.instance_count=lots"], project_dir=project)


@pytest.mark.parametrize(("override", "message"), [
    ("data.split.test_size=1.5", r"'data.split.test_size' must be in the range \(0.0, 1.0\); got 1.5"),
    ("deploy.unseen_category=ignore", r"'deploy.unseen_category' must be one of error, unknown; got 'ignore'"),
    ("search.eval_method=kfold", r"'search.eval_method' must be one of auto, holdout, cv; got 'kfold'"),
    ("evaluation.gates={roc_auc: 0.8}", r"evaluation.gates.roc_auc must be a mapping with 'min' and/or 'max'"),
    ("data.tsk=binary", r"unknown config key 'data.tsk'\. Did you mean 'data.task'\?"),
    ("deploy=prod", r"unknown option 'prod' for config group 'deploy'\. Available: production, staging\. "
                    r"Did you mean 'production'\?"),
])
def test_semantic_errors_name_the_key(project: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        api.compose_config([override], project_dir=project)


def test_init_refuses_an_existing_project(project: Path) -> None:
    with pytest.raises(ProjectError, match="already holds a Tesla project"):
        api.init_project(project)
