"""Bad-input corpus: where the project is, the files the CLI is given, and ``main``'s last resort.

A command outside a project used to exit 0 and leave a new ``.tesla/`` behind (``Store.open``
made one wherever it was called); from a subdirectory it made a second store. Now the project
root is found by walking up, as git finds a repository, and a directory in no project is
refused with one line before anything is written. File arguments (``-d``, ``-o``, ``init
PATH``) are checked at the boundary, and anything unexpected still ends in one line.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tesla import api
from tesla.errors import ProjectError, ProjectNotFoundError
from tesla.store import Store
from tests.conftest import run_tesla
from tests.reliability.corpus import assert_one_error, assert_refused, cli

NO_PROJECT = r"no Tesla project in .* or any parent directory; create one with 'tesla init DIR' or pass --project DIR"


def _only_what_was_there(directory: Path, before: set[str]) -> None:
    assert not (directory / ".tesla").exists(), "a refused command created a store"
    assert {p.name for p in directory.iterdir()} == before


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """A directory in no project (pytest's tmp tree has none above it)."""
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    """Input files outside any project: a good CSV, a directory, a labels file."""
    root = tmp_path_factory.mktemp("files")
    shutil.copy(datasets_dir / "bc_test.csv", root / "rows.csv")
    (root / "a_directory").mkdir()
    (root / "labels.csv").write_text("request_id,label\nr1,1\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, trained_project: Path) -> Path:
    """A private copy of the session's trained project (bc_model@1), so a bug cannot spoil the shared one."""
    return Path(shutil.copytree(trained_project, tmp_path_factory.mktemp("cli-corpus") / "proj", symlinks=True))


# -- every project-reading command, run where there is no project -------------------------------------------
OUTSIDE = {
    "data-list": ["data", "list"],
    "data-log": ["data", "log", "bc"],
    "data-rollback": ["data", "rollback", "bc", "1"],
    "data-diff": ["data", "diff", "bc", "1", "2"],
    "data-profile": ["data", "profile", "bc"],
    "load": ["load", "-d", "{files}/rows.csv", "-o", "bc", "--target", "target"],
    "plan": ["plan", "-m", "m"],
    "plan-cfg": ["plan", "--cfg"],
    "plan-dry-run": ["plan", "--dry-run"],
    "train": ["train", "-m", "m", "-p", "1", "data.source={files}/rows.csv", "data.target=target"],
    "models-list": ["models", "list"],
    "runs-list": ["runs", "list"],
    "runs-show": ["runs", "show", "abc123"],
    "evaluate": ["evaluate", "-m", "m", "-d", "{files}/rows.csv"],
    "predict": ["predict", "-m", "m", "-d", "{files}/rows.csv"],
    "replay": ["replay", "-m", "m"],
    "deploy": ["deploy", "-m", "m"],
    "rollback": ["rollback"],
    "deployments-list": ["deployments", "list"],
    "deployments-status": ["deployments", "status"],
    "deployments-stop": ["deployments", "stop", "m"],
    "deployments-logs": ["deployments", "logs", "m"],
    "monitor": ["monitor", "-m", "m"],
    "monitor-history": ["monitor", "history"],
    "monitor-feedback": ["monitor", "feedback", "-m", "m", "-d", "{files}/labels.csv"],
    "jobs-list": ["jobs", "list", "backend=sagemaker"],
}


@pytest.mark.parametrize("argv", OUTSIDE.values(), ids=OUTSIDE.keys())
def test_a_command_outside_a_project_is_refused_and_writes_nothing(argv: list[str], empty: Path, files: Path) -> None:
    outcome = cli(*[a.format(files=files) for a in argv], cwd=empty)
    assert_one_error(outcome, code=1, names=NO_PROJECT)
    _only_what_was_there(empty, set())
    assert not (files / ".tesla").exists()


def test_the_server_outside_a_project_is_refused_before_it_listens(empty: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def listen(*_a: object, **_k: object) -> None:
        raise AssertionError("the server started outside a project")

    monkeypatch.setattr(uvicorn, "run", listen)
    assert_one_error(cli("server", "--port", "0", cwd=empty), code=1, names=NO_PROJECT)
    _only_what_was_there(empty, set())


# -- --project naming what is not a project --------------------------------------------------------------------
PROJECT_OPTION = {
    "missing-dir": ("missing", (r"project directory '.*missing' does not exist; create a project there with "
                                r"'tesla init .*missing' or pass --project DIR")),
    "missing-nested-dir": ("a/b/c", r"project directory '.*a/b/c' does not exist"),
    "a-file": ("notes.txt", r"project directory '.*notes\.txt' is a file, not a directory"),
    "a-dir-in-no-project": ("plain", NO_PROJECT),
}


@pytest.mark.parametrize("command", [["data", "list"], ["models", "list"], ["load", "-d", "{files}/rows.csv",
                                                                            "-o", "bc"]],
                         ids=["data-list", "models-list", "load"])
@pytest.mark.parametrize("target,names", PROJECT_OPTION.values(), ids=PROJECT_OPTION.keys())
def test_project_option_naming_no_project_is_refused(target: str, names: str, command: list[str], empty: Path,
                                                     files: Path) -> None:
    (empty / "notes.txt").write_text("not a project\n")
    (empty / "plain").mkdir()
    argv = [a.format(files=files) for a in command] + ["--project", str(empty / target)]
    assert_one_error(cli(*argv, cwd=empty), code=1, names=names)
    _only_what_was_there(empty, {"notes.txt", "plain"})
    assert list((empty / "plain").iterdir()) == []


# -- a subdirectory of a project finds its root ---------------------------------------------------------------
SUBDIR = {
    "models-list": ["models", "list"],
    "data-list": ["data", "list"],
    "data-log": ["data", "log", "bc"],
    "runs-list": ["runs", "list"],
}


@pytest.mark.parametrize("argv", SUBDIR.values(), ids=SUBDIR.keys())
def test_a_subdirectory_uses_the_project_root(argv: list[str], trained: Path) -> None:
    nested = trained / "data" / "deeper"
    nested.mkdir(parents=True, exist_ok=True)
    at_root = cli(*argv, cwd=trained)
    assert at_root.code == 0, at_root.err
    for where, extra in ((trained / "data", []), (nested, []), (trained, ["--project", str(nested)])):
        outcome = cli(*argv, *extra, cwd=where)
        assert (outcome.code, outcome.out) == (0, at_root.out), outcome.err
    assert "bc_model@1" in cli("models", "list", cwd=nested).out
    assert not (trained / "data" / ".tesla").exists() and not (nested / ".tesla").exists()


def test_a_subdirectory_reads_the_roots_conf(project: Path) -> None:
    search = project / "conf" / "search" / "default.yaml"
    search.write_text(search.read_text().replace("max_iter: null ", "max_iter: 7 "))
    outcome = cli("plan", "--cfg", cwd=project / "data")
    assert outcome.code == 0, outcome.err
    assert "max_iter: 7\n" in outcome.out
    assert not (project / "data" / ".tesla").exists()


def test_a_store_only_directory_is_a_project(tmp_path: Path) -> None:
    (tmp_path / "old" / ".tesla").mkdir(parents=True)  # a project from before conf/ was scaffolded
    (tmp_path / "old" / "sub").mkdir()
    assert cli("data", "list", cwd=tmp_path / "old" / "sub").code == 0
    assert not (tmp_path / "old" / "sub" / ".tesla").exists()


# -- the library refuses the same way ------------------------------------------------------------------------
def test_the_library_refuses_a_directory_in_no_project(empty: Path, files: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match="no Tesla project in"):
        api.load(files / "rows.csv", "bc", target="target", project_dir=empty)
    with pytest.raises(ProjectNotFoundError, match="no Tesla project in"):
        api.compose_config([], project_dir=empty)
    with pytest.raises(ProjectNotFoundError, match="does not exist"):
        Store.open(empty / "missing")
    with pytest.raises(ProjectNotFoundError):
        api.open_store(empty)
    _only_what_was_there(empty, set())


def _takes_project(name: str) -> bool:
    import inspect

    return "project_dir" in inspect.signature(getattr(api, name)).parameters


ENTRY_POINTS = sorted(n for n in api.__all__ if callable(getattr(api, n)) and _takes_project(n))


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_library_entry_point_refuses_a_directory_in_no_project(name: str, empty: Path) -> None:
    import inspect

    fn = getattr(api, name)
    required = {p.name: "x" for p in inspect.signature(fn).parameters.values()
                if p.default is inspect.Parameter.empty and p.name != "project_dir"}
    with pytest.raises(ProjectNotFoundError, match="no Tesla project in"):
        fn(**required, project_dir=empty)
    _only_what_was_there(empty, set())


def test_create_app_refuses_a_directory_in_no_project(empty: Path, project: Path) -> None:
    from tesla.server.app import create_app

    with pytest.raises(ProjectNotFoundError):
        create_app(empty)
    assert create_app(project / "data").state.project == project.resolve()
    _only_what_was_there(empty, set())


# -- tesla init onto what cannot become a project ------------------------------------------------------------
INIT = {
    "onto-a-file": ("notes.txt", r"'.*notes\.txt' is a file; tesla init needs a directory"),
    "under-a-file": ("notes.txt/proj", r"cannot create '.*notes\.txt/proj': '.*notes\.txt' is a file"),
    "an-existing-project": ("proj", r"'.*proj' already holds a Tesla project \(conf/config\.yaml exists\)"),
    "a-store-only-project": ("old", r"'.*old' already holds a Tesla project \(\.tesla/ exists\)"),
}


@pytest.mark.parametrize("target,names", INIT.values(), ids=INIT.keys())
def test_init_onto_what_cannot_be_a_new_project_is_one_line(target: str, names: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me\n")
    api.init_project(tmp_path / "proj")
    (tmp_path / "old" / ".tesla").mkdir(parents=True)
    config = (tmp_path / "proj" / "conf" / "config.yaml").read_text()
    assert_one_error(cli("init", target, cwd=tmp_path), code=1, names=names)
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"
    assert (tmp_path / "proj" / "conf" / "config.yaml").read_text() == config
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == [".tesla"]


def test_init_errors_are_project_errors(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ProjectError):
        api.init_project(tmp_path / "f")


# -- predict -o --------------------------------------------------------------------------------------------
def test_predict_into_a_missing_directory_makes_it(trained: Path, files: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "missing" / "dir" / "preds.csv"
    outcome = cli("predict", "-m", "bc_model", "-d", str(files / "rows.csv"), "-o", str(out), cwd=trained)
    assert outcome.code == 0, outcome.err
    assert out.is_file() and ",prediction," in out.read_text().splitlines()[0]


PREDICT_OUT = {
    "an-existing-directory": ("{tmp}/outdir", (r"output '.*outdir' is a directory; name a file in it, "
                                               r"e\.g\. .*outdir/predictions\.csv")),
    "under-a-file": ("{tmp}/notes.txt/preds.csv", (r"cannot write '.*notes\.txt/preds\.csv': '.*notes\.txt' is a "
                                                   r"file, not a directory")),
    "deep-under-a-file": ("{tmp}/notes.txt/a/b.csv", r"'.*notes\.txt' is a file, not a directory"),
}


@pytest.mark.parametrize("output,names", PREDICT_OUT.values(), ids=PREDICT_OUT.keys())
def test_predict_output_that_cannot_be_written_is_one_line(output: str, names: str, trained: Path, files: Path,
                                                           tmp_path: Path) -> None:
    (tmp_path / "outdir").mkdir()
    (tmp_path / "notes.txt").write_text("keep me\n")
    assert_refused(trained, "predict", "-m", "bc_model", "-d", str(files / "rows.csv"),
                   "-o", output.format(tmp=tmp_path), names=names)
    assert list((tmp_path / "outdir").iterdir()) == [] and (tmp_path / "notes.txt").read_text() == "keep me\n"


def test_predict_into_a_read_only_directory_is_one_line(trained: Path, files: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    _deny(monkeypatch, locked, os.W_OK)
    try:
        assert_refused(trained, "predict", "-m", "bc_model", "-d", str(files / "rows.csv"),
                       "-o", str(locked / "preds.csv"), names=r"directory '.*locked' is not writable")
    finally:
        locked.chmod(0o700)


# -- input files (-d) ------------------------------------------------------------------------------------------
def _deny(monkeypatch: pytest.MonkeyPatch, path: Path, mode: int) -> None:
    """As root, chmod denies nothing: make os.access say what it would say to a user."""
    if os.geteuid() != 0:
        return
    real = os.access

    def access(p: str, m: int, *a: object, **k: object) -> bool:
        return False if Path(p).absolute() == path.absolute() and m & mode else real(p, m, *a, **k)

    monkeypatch.setattr(os, "access", access)


INPUT_COMMANDS = {
    "load": ["load", "-d", "{path}", "-o", "bc2", "--target", "target"],
    "evaluate": ["evaluate", "-m", "bc_model", "-d", "{path}"],
    "predict": ["predict", "-m", "bc_model", "-d", "{path}"],
    "monitor-feedback": ["monitor", "feedback", "-m", "bc_model", "-d", "{path}"],
}
INPUT_FILES = {  # an unreadable file is the option parser's to refuse (click's Path type): a usage error
    "missing": ("nowhere/rows.csv", 1, r"'.*nowhere/rows\.csv' does not exist; check the path"),
    "a-directory": ("a_directory", 1, r"'.*a_directory' is a directory; pass a CSV, Parquet or JSON-lines file"),
    "unreadable": ("locked.csv", 2, r"Invalid value for '-d' / '--data': path '.*locked\.csv' is not readable"),
}


@pytest.mark.parametrize("name,code,names", INPUT_FILES.values(), ids=INPUT_FILES.keys())
@pytest.mark.parametrize("argv", INPUT_COMMANDS.values(), ids=INPUT_COMMANDS.keys())
def test_a_bad_input_file_is_one_line_and_stores_nothing(argv: list[str], name: str, code: int, names: str,
                                                         trained: Path, files: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked.csv"
    shutil.copy(files / "rows.csv", locked)
    locked.chmod(0)
    _deny(monkeypatch, locked, os.R_OK)
    path = locked if name == "locked.csv" else files / name
    try:
        assert_refused(trained, *[a.format(path=path) for a in argv], code=code, names=names)
    finally:
        locked.chmod(0o600)


def test_the_library_refuses_an_unreadable_file(trained: Path, files: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tesla.errors import DataError

    locked = tmp_path / "locked.csv"
    shutil.copy(files / "rows.csv", locked)
    locked.chmod(0)
    _deny(monkeypatch, locked, os.R_OK)
    try:
        with pytest.raises(DataError, match=r"is not readable \(permission denied\)"):
            api.load(locked, "bc2", project_dir=trained)
        with pytest.raises(DataError, match=r"is not readable"):
            api.predict("bc_model", locked, project_dir=trained)
    finally:
        locked.chmod(0o600)


# -- main's last resort -----------------------------------------------------------------------------------------
LAST_RESORT = {
    "runtime-error": (RuntimeError("boom"), (r"^Error: unexpected RuntimeError: boom \(a bug in Tesla; rerun with "
                                             r"TESLA_FULL_ERROR=1 for the traceback and report it\)$")),
    "multi-line-message": (ValueError("a\nb\n  c"), r"^Error: unexpected ValueError: a b c \(a bug in Tesla"),
    "no-message": (AssertionError(), r"^Error: unexpected AssertionError \(a bug in Tesla"),
    "os-error-without-a-path": (OSError(28, "No space left on device"), r"unexpected OSError: \[Errno 28\]"),
    "permission-denied-on-a-path": (PermissionError(13, "Permission denied", "/srv/x.db"),
                                    r"^Error: '/srv/x\.db': permission denied; check its permissions$"),
    "is-a-directory": (IsADirectoryError(21, "Is a directory", "/srv/out"),
                       r"^Error: '/srv/out': is a directory; pass a file, not a directory$"),
    "file-not-found": (FileNotFoundError(2, "No such file or directory", "/srv/gone"),
                       r"^Error: '/srv/gone': no such file or directory; check the path$"),
}


@pytest.mark.parametrize("exc,names", LAST_RESORT.values(), ids=LAST_RESORT.keys())
def test_an_unexpected_exception_is_one_line(exc: Exception, names: str, project: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise exc

    monkeypatch.setattr(Store, "open", broken)
    assert_refused(project, "data", "list", names=names)


def test_full_error_shows_the_traceback(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Store, "open", broken)
    with pytest.raises(RuntimeError, match="boom"):
        cli("data", "list", cwd=project, env={"TESLA_FULL_ERROR": "1"})


# -- through the installed executable ---------------------------------------------------------------------------
@pytest.mark.e2e
def test_e2e_data_list_outside_a_project(empty: Path) -> None:
    proc = run_tesla("data", "list", cwd=empty, check=False, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no Tesla project in" in proc.stderr
    _only_what_was_there(empty, set())


@pytest.mark.e2e
def test_e2e_init_onto_a_file(tmp_path: Path) -> None:
    (tmp_path / "proj").write_text("keep me\n")
    proc = run_tesla("init", "proj", cwd=tmp_path, check=False, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == ("Error: 'proj' is a file; tesla init needs a directory (a new one, or an "
                                   "existing one without a project)")
    assert (tmp_path / "proj").read_text() == "keep me\n"


@pytest.mark.e2e
def test_e2e_load_a_directory_from_a_subdirectory(project: Path) -> None:
    proc = run_tesla("load", "-d", ".", "-o", "bc", cwd=project / "data", check=False, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("Error: data file '.' is a directory; pass a CSV, Parquet or "
                                                    "JSON-lines file")
    assert not (project / "data" / ".tesla").exists()
