"""Bad config files and overrides: one ``Error:`` line naming the file, line or key and the fix.

Each file case breaks one file of a fresh project's ``conf/`` (made by ``tesla init``, with a
dataset loaded so the store has rows to keep); each override case passes one bad override.
Both go through ``tesla plan`` or ``tesla train`` in-process, and must exit 1 (2 for an
argument that is not KEY=VALUE at all, the CLI's usage error), print no traceback and leave
the store as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_tesla, store_snapshot
from tests.reliability.corpus import Outcome, assert_one_error, assert_refused

SEARCH = "conf/search/default.yaml"
DATA = "conf/data/default.yaml"
CONFIG = "conf/config.yaml"
DEFAULTS_LIST = ("defaults:\n  - tesla_schema\n  - data: default\n  - search: default\n  - evaluation: default\n"
                 "  - deploy: production\n  - backend: local\n  - monitor: default\n  - _self_\n")

# case id -> (command, file, its new content, regex the error line must match)
FILE_CASES: dict[str, tuple[str, str, str | bytes, str]] = {
    "tab-indent": ("plan", CONFIG, "defaults:\n\t- tesla_schema\n",
                   r"^Error: conf/config\.yaml line 2, column 1: .*indent YAML with spaces, not tabs$"),
    "unclosed-quote": ("plan", SEARCH, "metric: 'log_loss\nmax_iter: 3\n",
                       (r"^Error: conf/search/default\.yaml line 3, column 1: .*close the quote or bracket opened on "
                        r"line 1$")),
    "unclosed-bracket": ("train", SEARCH, "estimators: [lgbm, rf\nmax_iter: 3\n",
                         r"^Error: conf/search/default\.yaml line \d+, column \d+: "),
    "duplicate-key": ("plan", SEARCH, "max_iter: 3\nmax_iter: 4\n",
                      (r"^Error: conf/search/default\.yaml line 2, column 1: found duplicate key max_iter; keep one "
                       r"'max_iter:' entry")),
    "duplicate-nested-key": ("train", DATA, "split:\n  seed: 1\n  seed: 2\n",
                             r"^Error: conf/data/default\.yaml line 3, column 3: found duplicate key seed"),
    "list-not-mapping": ("plan", SEARCH, "- lgbm\n- rf\n",
                         r"^Error: conf/search/default\.yaml holds a list, not a mapping of keys \(e\.g\. 'max_iter: 20'\)$"),
    "scalar-not-mapping": ("plan", "conf/monitor/default.yaml", "42\n",
                           r"^Error: conf/monitor/default\.yaml holds the int 42, not a mapping of keys"),
    "empty-group-file": ("plan", SEARCH, "",
                         r"^Error: conf/search/default\.yaml is empty \(or null\), not a mapping of keys; write '\{\}'"),
    "null-group-file": ("train", "conf/deploy/production.yaml", "null\n",
                        r"^Error: conf/deploy/production\.yaml is empty \(or null\)"),
    "empty-config-yaml": ("plan", CONFIG, "", r"^Error: conf/config\.yaml is empty \(or null\); it holds the defaults list"),
    "binary-garbage": ("plan", SEARCH, b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00",
                       r"^Error: conf/search/default\.yaml is not UTF-8 text \(byte 0x89 at offset 0\)"),
    "nul-bytes": ("train", SEARCH, b"max_iter: 3\x00\x00\n",
                  r"^Error: conf/search/default\.yaml holds binary data \(a NUL byte at offset 11\)"),
    "unknown-key-in-group-file": ("plan", SEARCH, "max_itr: 3\n",
                                  (r"^Error: conf/search/default\.yaml line 1: unknown config key 'search\.max_itr'\. "
                                   r"Did you mean 'search\.max_iter'\? Keys under 'search': framework, .*n_jobs, max_predict_ms_per_row, n_concurrent_trials$")),
    "unknown-key-in-config-yaml": ("train", CONFIG, DEFAULTS_LIST + "serch:\n  max_iter: 3\n",
                                   (r"^Error: conf/config\.yaml line 10: unknown config key 'serch'\. Did you mean "
                                    r"'search'\? Keys under '<root>': model, data, search")),
    "unknown-nested-key": ("plan", DATA, "split:\n  test_sze: 0.3\n",
                           (r"^Error: conf/data/default\.yaml line 2: unknown config key 'data\.split\.test_sze'\. "
                            r"Did you mean 'data\.split\.test_size'\?")),
    "unknown-backend-key": ("plan", "conf/backend/local.yaml", ("defaults:\n  - local_schema\n  - _self_\nname: local\n"
                                                                "region: us-east-1\n"),
                            (r"^Error: conf/backend/local\.yaml line 5: unknown config key 'backend\.region'\. "
                             r"Keys under 'backend': name$")),
    "wrong-type-in-file": ("plan", SEARCH, "max_iter: abc\n",
                           r"^Error: conf/search/default\.yaml line 1: 'search\.max_iter' must be an integer or null; got 'abc'$"),
    "list-where-mapping": ("plan", SEARCH, "search_space: [1, 2]\n",
                           r"^Error: conf/search/default\.yaml line 1: 'search\.search_space' must be a mapping"),
    "mapping-where-scalar": ("train", "conf/deploy/production.yaml", "port: {a: 1}\n",
                             r"^Error: conf/deploy/production\.yaml line 1: 'deploy\.port' must be an integer; got"),
    "out-of-range-in-file": ("plan", SEARCH, "max_iter: 0\n",
                             r"^Error: conf/search/default\.yaml line 1: 'search\.max_iter' must be in the range \[1, inf\]"),
    "not-allowed-in-file": ("train", SEARCH, "metric: lg_loss\n",
                            (r"^Error: conf/search/default\.yaml line 1: 'search\.metric' must be one of .* got "
                             r"'lg_loss'\. Did you mean 'log_loss'\?$")),
    "bad-interpolation-in-file": ("plan", SEARCH, "metric: ${oops}\n",
                                  (r"^Error: conf/search/default\.yaml line 1: 'search\.metric' refers to '\$\{oops\}', "
                                   r"which is not a config key")),
    "unknown-option-in-defaults": ("plan", CONFIG, DEFAULTS_LIST.replace("search: default", "search: nope"),
                                   (r"^Error: conf/config\.yaml line 4: unknown option 'nope' for config group 'search'\. "
                                    r"Available: default\.$")),
    "defaults-without-schema": ("plan", CONFIG, "defaults:\n  - search: default\n",
                                r"^Error: conf/config\.yaml: its 'defaults' list must hold '- tesla_schema'"),
    "broken-unused-file": ("plan", "conf/deploy/staging.yaml", "port: [\n",
                           r"^Error: conf/deploy/staging\.yaml line 2, column 1: "),
}

# case id -> (command and arguments, exit code, regex the error line must match)
OVERRIDE_CASES: dict[str, tuple[list[str], int, str]] = {
    "unknown-key": (["plan", "-m", "m", "search.max_itr=3"], 1,
                    r"unknown config key 'search\.max_itr'\. Did you mean 'search\.max_iter'\? Keys under 'search': "),
    "unknown-key-at-root": (["train", "-m", "m", "max_iter=3"], 1,
                            r"unknown config key 'max_iter'\. Did you mean 'search\.max_iter'\?"),
    "unknown-backend-key": (["plan", "-m", "m", "backend=sagemaker", "backend.regin=x"], 1,
                            r"unknown config key 'backend\.regin'\. Did you mean 'backend\.region'\?"),
    "wrong-type": (["plan", "-m", "m", "search.max_iter=abc"], 1,
                   r"^Error: override 'search\.max_iter=abc': 'search\.max_iter' must be an integer or null; got 'abc'$"),
    "float-for-int": (["train", "-m", "m", "search.seed=1.5"], 1, r"'search\.seed' must be an integer; got 1\.5$"),
    "empty-value": (["plan", "-m", "m", "search.max_iter="], 1, r"'search\.max_iter' must be an integer or null; got ''$"),
    "not-a-bool": (["plan", "-m", "m", "data.split.stratify=maybe"], 1,
                   r"'data\.split\.stratify' must be true or false; got 'maybe'$"),
    "list-for-scalar": (["plan", "-m", "m", "search.max_iter=[1,2]"], 1,
                        r"'search\.max_iter' must be an integer or null; got \[1, 2\]$"),
    "scalar-for-list": (["train", "-m", "m", "search.estimators=lgbm"], 1,
                        r"'search\.estimators' must be a list \(e\.g\. \[a, b\]\); got 'lgbm'$"),
    "scalar-for-mapping": (["plan", "-m", "m", "data.split=3"], 1,
                           r"'data\.split' must be a mapping of test_size, stratify, time_column, seed; got 3$"),
    "out-of-range": (["plan", "-m", "m", "data.split.test_size=1.5"], 1,
                     (r"override 'data\.split\.test_size=1\.5': 'data\.split\.test_size' must be in the range "
                      r"\(0\.0, 1\.0\); got 1\.5$")),
    "negative-seed": (["train", "-m", "m", "search.seed=-1"], 1, r"'search\.seed' must be in the range \[0, 4294967295\]"),
    "unknown-group-option": (["plan", "-m", "m", "backend=sagemakr"], 1,
                             (r"unknown option 'sagemakr' for config group 'backend'\. Available: local, ray, "
                              r"sagemaker, vertex\. Did you mean 'sagemaker'\?$")),
    "group-given-a-number": (["plan", "-m", "m", "search=3"], 1,
                             r"override 'search=3' must name an option of config group 'search' \(available: default\)"),
    "bad-interpolation": (["plan", "-m", "m", "search.metric=${oops}"], 1,
                          (r"override 'search\.metric=\$\{oops\}': 'search\.metric' refers to '\$\{oops\}', which is "
                           r"not a config key")),
    "unclosed-interpolation": (["train", "-m", "m", "search.metric=${search"], 1,
                               r"cannot parse override 'search\.metric=\$\{search': the interpolation is not closed"),
    "missing-required-value": (["plan", "-m", "m", "search.metric=???"], 1,
                               (r"config value 'search\.metric' is required; set it in conf/ or on the command line: "
                                r"search\.metric=VALUE$")),
    "plus-on-existing-key": (["plan", "-m", "m", "+search.seed=3"], 1,
                             (r"override '\+search\.seed=3' adds a key, but 'search\.seed' already exists; set "
                              r"it without the '\+': search\.seed=3$")),
    "plus-adds-unknown-key": (["plan", "-m", "m", "+foo=1"], 1, r"unknown config key 'foo'\. Keys under '<root>': "),
    "plusplus-adds-unknown-key": (["train", "-m", "m", "++search.foo=1"], 1,
                                  r"unknown config key 'search\.foo'\. Keys under 'search': "),
    "tilde-deletes-key": (["plan", "-m", "m", "~search.max_iter=20"], 1,
                          (r"override '~search\.max_iter=20' deletes 'search\.max_iter', but Tesla's keys and groups are "
                           r"fixed")),
    "tilde-deletes-group": (["plan", "-m", "m", "~search=default"], 1, r"override '~search=default' deletes 'search'"),
    "tilde-without-value": (["plan", "-m", "m", "~search"], 2, r"'~search' is not an override; overrides are KEY=VALUE"),
    "same-key-twice": (["plan", "-m", "m", "search.max_iter=3", "search.max_iter=4"], 1,
                       r"'search\.max_iter' is set twice on the command line, to '3' and to '4'"),
    "flag-and-override-disagree": (["train", "-m", "m", "-p", "5", "search.max_iter=3"], 1,
                                   r"'search\.max_iter' is set twice on the command line, to '5' and to '3' \(-m, -f, -p"),
    "group-twice": (["plan", "-m", "m", "backend=local", "backend=vertex"], 1,
                    r"'backend' is set twice on the command line, to 'local' and to 'vertex'; keep one$"),
    "unclosed-quote": (["plan", "-m", "m", "search.metric='log_loss"], 1,
                       r"cannot parse override 'search\.metric='log_loss': the quote is not closed"),
    "double-dot-key": (["plan", "-m", "m", "search..max_iter=3"], 1,
                       r"cannot parse override 'search\.\.max_iter=3': the key is not a dotted name"),
    "no-key": (["plan", "-m", "m", "=3"], 1, r"override '=3' has no key; overrides are KEY=VALUE"),
    "comma-without-multirun": (["train", "-m", "m", "search.max_iter=1,2"], 1,
                               (r"override 'search\.max_iter=1,2' holds a comma: for a list write "
                                r"search\.max_iter=\[1,2\].*add --multirun")),
    "not-an-override": (["plan", "-m", "m", "search.max_iter"], 2, r"'search\.max_iter' is not an override"),
}


@pytest.fixture(scope="module")
def loaded_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a small dataset loaded (the store has rows a refused command must keep)."""
    from tesla import api

    root = api.init_project(tmp_path_factory.mktemp("config_corpus") / "proj")
    csv = root / "data" / "tiny.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    api.load(csv, "tiny", target="y", project_dir=root)
    return root


@pytest.fixture
def project_copy(loaded_project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(loaded_project, tmp_path / "proj", symlinks=True))


def _break(project: Path, rel: str, content: str | bytes) -> None:
    path = project / rel
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


@pytest.mark.parametrize(("command", "rel", "content", "names"), FILE_CASES.values(), ids=FILE_CASES.keys())
def test_a_broken_conf_file_is_named_with_its_line(project_copy: Path, command: str, rel: str, content: str | bytes,
                                                   names: str) -> None:
    _break(project_copy, rel, content)
    before = (project_copy / rel).read_bytes()
    assert_refused(project_copy, command, "-m", "m", names=names)
    assert (project_copy / rel).read_bytes() == before  # nothing rewrites the user's file


@pytest.mark.parametrize(("argv", "code", "names"), OVERRIDE_CASES.values(), ids=OVERRIDE_CASES.keys())
def test_a_bad_override_gets_one_line(project_copy: Path, argv: list[str], code: int, names: str) -> None:
    assert_refused(project_copy, *argv, code=code, names=names)


def test_the_shipped_conf_passes_its_own_checks(project_copy: Path) -> None:
    """The control: the same project, unbroken, composes (every case above is refused for its mistake)."""
    from tesla import api

    _, plain = api.compose_config(["search.max_iter=2", "evaluation.gates.accuracy.min=0.5",
                                   "+search.search_space.lgbm.num_leaves=[4,8]"], project_dir=project_copy)
    assert plain["search"]["max_iter"] == 2 and plain["evaluation"]["gates"] == {"accuracy": {"min": 0.5}}


E2E_CASES = {
    "tab-indent": ([], CONFIG, "defaults:\n\t- tesla_schema\n", r"conf/config\.yaml line 2, column 1: .*tabs"),
    "unknown-key-in-file": (["train"], SEARCH, "max_itr: 3\n",
                            r"conf/search/default\.yaml line 1: unknown config key 'search\.max_itr'\. Did you mean"),
    "same-key-twice": (["search.seed=1", "search.seed=2"], None, "", r"'search\.seed' is set twice"),
}


@pytest.mark.e2e
@pytest.mark.parametrize(("extra", "rel", "content", "names"), E2E_CASES.values(), ids=E2E_CASES.keys())
def test_config_mistakes_through_the_real_executable(project_copy: Path, extra: list[str], rel: str | None,
                                                     content: str, names: str) -> None:
    if rel:
        _break(project_copy, rel, content)
    command = extra[:1] if extra[:1] == ["train"] else ["plan"]
    overrides = [a for a in extra if a != "train"]
    before = store_snapshot(project_copy)
    proc = run_tesla(*command, "-m", "m", "-p", "1", *overrides, cwd=project_copy, check=False)
    assert_one_error(Outcome(proc.returncode, proc.stdout, proc.stderr), code=1, names=names)
    assert store_snapshot(project_copy) == before
