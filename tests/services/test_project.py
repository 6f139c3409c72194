"""tesla.Project: one root, one store, five services; the tesla.api façade answers the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tesla
from tesla import api
from tesla.errors import ProjectError, ProjectNotFoundError
from tesla.project import Project
from tesla.services import (
    DataService,
    DeploymentService,
    EvaluationService,
    MonitoringService,
    TrainingService,
)
from tesla.store import Store


def test_the_root_is_found_from_a_subdirectory(project: Path) -> None:
    sub = project / "data" / "deeper"
    sub.mkdir(parents=True)
    assert Project(sub).root == project.resolve()
    assert Project(project).root == project.resolve()


def test_a_directory_in_no_project_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match="no Tesla project in"):
        Project(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_init_scaffolds_and_returns_the_project(tmp_path: Path) -> None:
    created = Project.init(tmp_path / "new")
    assert isinstance(created, Project) and created.root == (tmp_path / "new").resolve()
    assert (created.root / "conf" / "config.yaml").is_file()
    with pytest.raises(ProjectError, match="already holds a Tesla project"):
        Project.init(tmp_path / "new")


def test_tesla_exports_project_lazily() -> None:
    assert tesla.Project is Project


def test_each_service_is_one_object_of_its_class(project: Path) -> None:
    p = Project(project)
    kinds = {"data": DataService, "training": TrainingService, "evaluation": EvaluationService,
             "deployments": DeploymentService, "monitoring": MonitoringService}
    for attribute, kind in kinds.items():
        service = getattr(p, attribute)
        assert isinstance(service, kind) and service.project is p and getattr(p, attribute) is service
    assert not (project / ".tesla").exists()  # nothing opened the store yet


def test_a_session_opens_the_store_once(project: Path, datasets_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []
    real_open = Store.open

    def counting_open(project_dir: Any = ".") -> Store:
        opened.append(project_dir)
        return real_open(project_dir)

    monkeypatch.setattr(Store, "open", counting_open)
    p = Project(project / "data")
    loaded = p.data.load(datasets_dir / "iris.csv", "iris", target="target")
    assert loaded.created and [v.name for v in p.data.datasets()] == ["iris"]
    plan = p.training.compile_plan("iris_m", max_iter=2)
    assert set(p.training.plan_status(plan).values()) == {"will run"}
    trained = p.training.train("iris_m", max_iter=2)
    assert trained.model.ref == "iris_m@1" and trained.created
    assert [m.ref for m in p.training.models("iris_m")] == ["iris_m@1"]
    assert p.training.trials(trained.run.run_id)
    evaluated = p.evaluation.evaluate("iris_m", datasets_dir / "iris.csv")
    assert evaluated.rows == 150 and evaluated.report_path.is_file()
    frame = p.evaluation.predict("iris_m@1", datasets_dir / "iris.csv", tmp_path / "out" / "p.csv")
    assert len(frame) == 150 and "prediction" in frame.columns and (tmp_path / "out" / "p.csv").is_file()
    assert p.deployments.list() == [] and p.monitoring.history() == []
    assert opened == [project.resolve()]


def test_the_api_facade_answers_as_the_service(project: Path, datasets_dir: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    api.load(datasets_dir / "diabetes.csv", "iris", target="target", project_dir=project)
    p = Project(project)
    assert api.data_diff("iris", 1, 2, project_dir=project) == p.data.diff("iris", 1, 2)
    assert api.compose_config(["search.max_iter=3"], project_dir=project)[1] == p.config(["search.max_iter=3"])[1]
    plan = api.compile_plan("m", max_iter=2, overrides=["data.dataset=iris"], project_dir=project)
    assert plan.to_json() == p.training.compile_plan("m", max_iter=2, overrides=["data.dataset=iris"]).to_json()
    assert api.plan_status(plan, project_dir=project) == p.training.plan_status(plan)
    assert api.deployments(project_dir=project) == p.deployments.list()
    assert api.open_store(project).dataset_names() == [v.name for v in p.data.datasets()]


@pytest.mark.parametrize("shell", ["tesla/cli/__init__.py", "tesla/server"])
def test_the_shells_call_services_not_the_store(shell: str) -> None:
    path = Path(__file__).resolve().parents[2] / shell
    text = "".join(p.read_text() for p in sorted(path.glob("*.py"))) if path.is_dir() else path.read_text()
    assert "Project(" in text
    assert not [word for word in ("open_store", "from tesla import api", ".store.", "Store.open") if word in text]
