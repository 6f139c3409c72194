"""Stages and aliases: `tesla models promote NAME@V STAGE`, shown in `models list`, usable as NAME@STAGE."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla.errors import ConfigError, ModelNotFoundError
from tesla.services._common import parse_model_ref
from tests.conftest import project_store, run_tesla


def _register(store, name: str, n: int) -> None:  # noqa: ANN001
    for i in range(1, n + 1):
        sha = store.artifacts.put(_bundle(store.state_dir.parent, i))
        store.register_model(name, bundle_sha=sha, framework="scikit-learn", task="binary", run_id=None,
                             dataset=None, dataset_version=None, plan_fingerprint=None, metrics={}, config={})


def _bundle(root: Path, i: int) -> Path:
    path = root / f"bundle{i}"
    path.mkdir(exist_ok=True)
    (path / "manifest.json").write_text(f'{{"n": {i}}}\n')
    return path


def test_promote_moves_a_stage_and_keeps_other_aliases(project: Path) -> None:
    store = project_store(project)
    _register(store, "m", 3)
    store.promote("m", 1, "production")
    store.promote("m", 1, "champion")
    assert store.model("m", "production").version == 1
    store.promote("m", 2, "production")  # production moves; champion stays on 1
    assert store.model("m", "production").version == 2 and store.model("m", "champion").version == 1
    assert [v.aliases for v in store.model_versions("m")] == [("champion",), ("production",), ()]
    with pytest.raises(ModelNotFoundError, match=r"model 'm' has no version called 'staging' \(aliases: champion, "
                                                 r"production\); promote one with `tesla models promote m@VERSION"):
        store.model("m", "staging")


@pytest.mark.parametrize("ref, parsed", [("m", ("m", None)), ("m@3", ("m", 3)), ("m@production", ("m", "production")),
                                         ("m@rc-1.2", ("m", "rc-1.2"))])
def test_model_refs_take_a_version_or_an_alias(ref: str, parsed: tuple) -> None:
    assert parse_model_ref(ref) == parsed


@pytest.mark.parametrize("ref, message", [("m@-x", "an alias after '@' is letters"), ("m@²", "a version number or an alias"),
                                          ("@3", "has no name")])
def test_bad_model_refs_say_what_is_allowed(ref: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_model_ref(ref)


def test_cli_promote_then_list_then_use_the_stage(project: Path) -> None:
    _register(project_store(project), "m", 2)
    assert run_tesla("models", "promote", "m@1", "staging", cwd=project).stdout.strip() == "m@staging -> m@1"
    assert run_tesla("models", "promote", "m@staging", "production", cwd=project).stdout.strip() == \
        "m@production -> m@1"
    listing = run_tesla("models", "list", "m", cwd=project).stdout
    assert "production, staging" in listing
    bad = run_tesla("models", "promote", "m@7", "production", cwd=project, check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "Error: model 'm' has no version 7; see `tesla models list`"
