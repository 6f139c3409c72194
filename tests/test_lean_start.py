"""What each command imports: `tesla --help` and `tesla plan` no ML framework, pandas or cloud SDK (they cost
seconds); the fast help not even typer; a train no test framework; a server start no model framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tesla import api

HEAVY = ("flaml", "sklearn", "pandas", "torch", "tensorflow", "keras", "lightgbm", "xgboost", "skops",
         "boto3", "botocore", "sagemaker", "google.cloud", "numpy")

_PROBE = """
import json, sys
from tesla.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith('google.cloud.'))
print('HEAVY=' + json.dumps(heavy))
"""


def _heavy_modules(argv: list[str], cwd: Path) -> list[str]:
    code = _PROBE.format(argv=argv, heavy=tuple(h.split(".")[0] for h in HEAVY if h != "google.cloud"))
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY=")]
    assert line, out.stdout + out.stderr
    return json.loads(line[0].removeprefix("HEAVY="))


def test_help_is_lean(tmp_path: Path) -> None:
    assert _heavy_modules(["--help"], tmp_path) == []


def test_plan_is_lean(project: Path, datasets_dir: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    assert _heavy_modules(["plan", "-m", "m", "-p", "5"], project) == []


@pytest.mark.parametrize("module", ["tesla", "tesla.plan", "tesla.errors", "tesla.compiler", "tesla.execution"])
def test_core_modules_import_lean(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_import_has_no_global_side_effects() -> None:
    code = "import logging, tesla.cli, tesla.api; print(len(logging.getLogger().handlers))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0"


# -- what each command may import: a set of forbidden modules per command (never a timing) ------------------
ML = ("flaml", "sklearn", "skops", "lightgbm", "xgboost", "torch", "tensorflow", "keras")
CLOUD = ("boto3", "botocore", "sagemaker", "google.cloud.aiplatform", "google.cloud.storage")
FORBIDDEN = {
    # the fast path answers before typer, Hydra or the store are imported
    # (google.cloud itself is a namespace package some installs create at interpreter start: its SDKs count)
    "fast-help": (*(h for h in HEAVY if h != "google.cloud"), *CLOUD, "typer", "click", "rich", "hydra", "omegaconf", "sqlalchemy", "pytest"),
    # a train before its search: the data steps need pandas (and sklearn's split), not the
    # search, the bundle format, pytest (which skops' walk of scikit-learn imported) or the clouds
    "train-before-search": ("flaml", "skops", "torch", "tensorflow", "keras", "pytest", "fastapi", *CLOUD),
    # a whole train: skops imported without walking scikit-learn (no pytest, no torch)
    "train": ("torch", "tensorflow", "keras", "pytest", "fastapi", *CLOUD),
    # a REST server start: no model framework until a request needs one
    "server-start": (*ML, "pytest", *CLOUD),
    # `tesla deploy` (the CLI's process; the model server is another): the weight types skops read when the model
    # was registered are replayed for the same bytes, the config is the compose cache's, the health probe urllib's
    "deploy": (*ML, "pandas", "httpx", "pytest", *CLOUD),
}

_LISTED = """
import json, sys
forbidden = {forbidden!r}
loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in forbidden))
sys.__stderr__.write('LOADED=' + json.dumps(loaded) + '\\n')
"""


def _run_probe(code: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, **(env or {})})
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("LOADED=")]
    assert line, out.stdout + out.stderr
    return json.loads(line[-1].removeprefix("LOADED="))


def _fast(argv: list[str], cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.argv = ['tesla', *{argv!r}]\nfrom tesla._entry import main\nmain()"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TESLA_CACHE_DIR": str(cache)})


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--version"], []], ids=["help", "h", "version", "bare"])
def test_the_fast_answer_is_the_typer_apps_answer(tmp_path: Path, argv: list[str]) -> None:
    code = f"from tesla.cli import main\nmain({argv!r})"
    app = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    first, again = _fast(argv, tmp_path / "cache", tmp_path), _fast(argv, tmp_path / "cache", tmp_path)
    assert app.stdout + app.stderr  # the app answered something to compare with
    for got in (first, again):  # the app answering through the entry, then the saved answer replayed
        assert (got.stdout, got.stderr, got.returncode) == (app.stdout, app.stderr, app.returncode)


def test_the_fast_answer_imports_neither_typer_nor_the_ml_stack(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fast(["--help"], cache, tmp_path)  # saves the answer
    probe = ("import sys, atexit\nsys.argv = ['tesla', '--help']\n"
             f"atexit.register(lambda: exec({_LISTED.format(forbidden=FORBIDDEN['fast-help'])!r}, {{}}))\n"
             "from tesla._entry import main\nmain()")
    assert _run_probe(probe, tmp_path, {"TESLA_CACHE_DIR": str(cache)}) == []


def test_a_stale_saved_answer_is_not_replayed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fast(["--help"], cache, tmp_path)
    saved = json.loads((cache / "cli-help.json").read_text())
    saved["key"][1] = "0.0.0-older"  # as if saved by another Tesla version
    saved["stdout"] = "stale help\n"
    (cache / "cli-help.json").write_text(json.dumps(saved))
    assert "Usage: tesla" in _fast(["--help"], cache, tmp_path).stdout


def test_train_imports_no_test_framework_and_nothing_cloud(project: Path, datasets_dir: Path, tmp_path: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    before = _LISTED.format(forbidden=FORBIDDEN["train-before-search"]).replace("LOADED=", "BEFORE=")
    probe = ("import sys\nimport tesla.automl.adapter as adapter\nreal = adapter.search\n"
             "def search(*a, **k):\n"
             + "".join(f"    {line}\n" for line in before.strip().splitlines())
             + "    return real(*a, **k)\n"
             "adapter.search = search\nfrom tesla.cli import main\n"
             "try:\n    main(['train', 'search.estimators=[lrl1]', '-m', 'm', '-p', '1'])\n"
             "except SystemExit:\n    pass\n"
             + _LISTED.format(forbidden=FORBIDDEN["train"]))
    env = {"TESLA_CACHE_DIR": str(tmp_path / "cache")}
    from tesla.models.formats import _estimator_cache
    # a first train (another search: -p 2) lets skops walk scikit-learn once and save what it found
    _run_probe(probe.replace("'-p', '1'", "'-p', '2'"), project, env)
    out = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env})
    lines = {ln.split("=", 1)[0]: json.loads(ln.split("=", 1)[1]) for ln in out.stderr.splitlines()
             if ln.startswith(("BEFORE=", "LOADED="))}
    assert set(lines) == {"BEFORE", "LOADED"}, out.stdout + out.stderr
    assert lines == {"BEFORE": [], "LOADED": []}
    assert _estimator_cache().name  # the cache file is named by the library versions


def test_skops_imported_from_the_cache_trusts_the_same_types(tmp_path: Path) -> None:
    names = ("import sys, json\nfrom skops.io import _trusted_types as T\n"
             "sys.__stderr__.write('NAMES=' + json.dumps([T.SKLEARN_ESTIMATOR_TYPE_NAMES, T.SCIPY_UFUNC_TYPE_NAMES, "
             "T.NUMPY_UFUNC_TYPE_NAMES, 'pytest' in sys.modules]) + '\\n')\n")
    env = {**os.environ, "TESLA_CACHE_DIR": str(tmp_path)}

    def run(code: str) -> list:
        out = subprocess.run([sys.executable, "-c", code + names], capture_output=True, text=True, timeout=300, env=env)
        line = [ln for ln in out.stderr.splitlines() if ln.startswith("NAMES=")]
        assert line, out.stdout + out.stderr
        return json.loads(line[0].removeprefix("NAMES="))

    tesla_way = "import pandas, sklearn.model_selection\nfrom tesla.models.formats import _import_skops\n_import_skops()\n"
    plain = run("import pandas, sklearn.model_selection, sys, types\n"
                "sys.modules['sklearn.externals.array_api_compat.torch'] = types.ModuleType('x')\n"
                "sys.modules['sklearn.externals.array_api_compat.torch'].__path__ = []\nimport skops.io\n")
    walked, cached = run(tesla_way), run(tesla_way)
    assert walked[:3] == plain[:3] and cached[:3] == plain[:3]
    assert cached[3] is False  # replayed from the cache: scikit-learn was not walked, pytest not imported


def test_deploy_imports_no_model_framework_in_the_cli(trained_project: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(trained_project, tmp_path / "proj"))
    env = {"TESLA_CACHE_DIR": str(tmp_path / "cache")}
    probe = ("from tesla.cli import main\ntry:\n    main(['deploy', '-m', 'bc_model'])\nexcept SystemExit:\n    pass\n"
             + _LISTED.format(forbidden=FORBIDDEN["deploy"]))
    stop = "from tesla.cli import main\nmain(['deployments', 'stop', 'bc_model'])"
    try:
        _run_probe(probe, root, env)  # a first deploy saves the composed config
        subprocess.run([sys.executable, "-c", stop], cwd=root, capture_output=True, timeout=120)
        loaded = _run_probe(probe, root, env)
        status = api.open_store(root).deployments(active_only=True)
        assert [d.model for d in status] == ["bc_model"]  # it did deploy, and answered /health
    finally:
        subprocess.run([sys.executable, "-c", stop], cwd=root, capture_output=True, timeout=120)
    assert loaded == []


def test_server_start_imports_no_model_framework(project: Path) -> None:
    probe = ("from tesla.server.app import create_app\ncreate_app('.')\n"
             + _LISTED.format(forbidden=FORBIDDEN["server-start"]))
    assert _run_probe(probe, project) == []


# -- the compose cache: a second plan replays the resolved config, never a stale one ----------------------
def _plan(project: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    code = (f"import atexit\natexit.register(lambda: exec({_LISTED.format(forbidden=('hydra', 'omegaconf'))!r}, {{}}))\n"
            f"from tesla.cli import main\nmain(['plan', '-m', 'm', '-p', '1', '--format', 'json', *{list(extra)!r}])")
    return subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TESLA_CACHE_DIR": str(cache)})


def _loaded(out: subprocess.CompletedProcess[str]) -> list[str]:
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("LOADED=")]
    assert line, out.stdout + out.stderr
    return json.loads(line[-1].removeprefix("LOADED="))


def test_a_second_plan_composes_nothing_and_prints_the_same_plan(project: Path, datasets_dir: Path,
                                                                 tmp_path: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    first, again = _plan(project, tmp_path / "cache"), _plan(project, tmp_path / "cache")
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert _loaded(first) and _loaded(again) == []  # composed by Hydra, then replayed
    assert again.stdout == first.stdout
    other = _plan(project, tmp_path / "cache", "search.metric=accuracy")  # other overrides: composed again
    assert _loaded(other) and json.loads(other.stdout) != json.loads(first.stdout)


def _compose_both(project: Path, overrides: list[str]) -> tuple[dict, dict]:
    from omegaconf import OmegaConf

    from tesla.config.compose import compose, compose_plain
    from tesla.services._common import backend_schemas

    plain = compose_plain(overrides, project_dir=project, backend_schemas=backend_schemas())
    fresh = OmegaConf.to_container(compose(overrides, project_dir=project, backend_schemas=backend_schemas()),
                                   resolve=True)
    return plain, fresh


@pytest.mark.parametrize("overrides", [[], ["search.metric=f1", "backend=sagemaker", "search.search_space.rf.n_estimators={type:randint,low:5,high:9}"]],
                         ids=["defaults", "overrides"])
def test_the_replayed_config_is_the_composed_one(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 overrides: list[str]) -> None:
    from tesla.config.compose import _same

    monkeypatch.setenv("TESLA_CACHE_DIR", str(tmp_path / "cache"))
    saved, fresh = _compose_both(project, overrides)
    replayed, _ = _compose_both(project, overrides)
    assert list((tmp_path / "cache" / "compose").glob("*.json"))  # the second answer came from the file
    assert _same(saved, fresh) and _same(replayed, fresh)
    assert not _same({"a": 1}, {"a": 1.0}) and not _same([("x",)], [["x"]])


def test_a_changed_conf_file_is_composed_again(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_CACHE_DIR", str(tmp_path / "cache"))
    assert _compose_both(project, [])[0]["search"]["n_splits"] == 5
    conf = project / "conf" / "search" / "default.yaml"
    conf.write_text(conf.read_text().replace("n_splits: 5", "n_splits: 3"))  # same size: the content counts
    assert _compose_both(project, [])[0]["search"]["n_splits"] == 3


def test_a_config_reading_the_environment_is_never_replayed(project: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_CACHE_DIR", str(tmp_path / "cache"))
    conf = project / "conf" / "search" / "default.yaml"
    conf.write_text(conf.read_text().replace("n_splits: 5", "n_splits: ${oc.env:SPLITS}"))
    monkeypatch.setenv("SPLITS", "4")
    assert _compose_both(project, [])[0]["search"]["n_splits"] == 4
    monkeypatch.setenv("SPLITS", "6")
    assert _compose_both(project, [])[0]["search"]["n_splits"] == 6
    assert not (tmp_path / "cache" / "compose").exists()


def test_the_compose_cache_is_bounded(project: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    compose = importlib.import_module("tesla.config.compose")  # the package's `compose` names the function
    monkeypatch.setenv("TESLA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(compose, "_CACHE_KEEP", 2)
    for n in (2, 3, 4):
        _compose_both(project, [f"search.n_splits={n}"])
    assert len(list((tmp_path / "cache" / "compose").glob("*.json"))) == 2
