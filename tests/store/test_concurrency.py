"""Eight `tesla` processes writing one store at once lose nothing: every command succeeds, version
numbers have no gap and no duplicate, every run is recorded once, and a brand-new store is created
by exactly one of them (the others wait for it).

These run the installed `tesla` as real subprocesses, several rounds each: the race they catch (two
writers reading the same highest version, two openers creating the same tables) shows up in a
fraction of rounds, so one round would pass by luck on code that has it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TESLA, project_store

WRITERS = 8
LOAD_ROUNDS = 3
TRAIN_ROUNDS = 2


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([TESLA, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _all_succeed(procs: list[subprocess.Popen[str]], what: str) -> None:
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(f"{' '.join(map(str, proc.args[1:]))} exited {proc.returncode}:\n{out}\n{err}")
    assert not failures, f"{len(failures)} of {len(procs)} concurrent {what} failed:\n" + "\n".join(failures)


def _fresh_store(project: Path) -> None:
    """Remove the store `tesla init` made: the first command then creates it, with seven others at once."""
    shutil.rmtree(project / ".tesla", ignore_errors=True)


@pytest.fixture
def iris_files(tmp_path: Path, datasets_dir: Path) -> list[Path]:
    """``WRITERS`` small CSV files of one schema with different rows (so each is a new version)."""
    iris = pd.read_csv(datasets_dir / "iris.csv")
    files = []
    for i in range(WRITERS):
        path = tmp_path / f"iris_{i}.csv"
        iris.drop(index=list(range(i * 5, i * 5 + 5))).to_csv(path, index=False)
        files.append(path)
    return files


@pytest.mark.parametrize("round_", range(LOAD_ROUNDS))
def test_concurrent_loads_into_one_new_dataset_get_versions_1_to_8(project: Path, iris_files: list[Path],
                                                                    round_: int) -> None:
    _fresh_store(project)
    procs = [_start(["load", "-d", str(f), "-o", "iris", "--target", "target"], project) for f in iris_files]
    _all_succeed(procs, "loads")
    log = project_store(project).dataset_log("iris")
    assert sorted(v.version for v in log) == list(range(1, WRITERS + 1))
    assert len({v.sha256 for v in log}) == WRITERS  # each file is one version: none lost, none twice


@pytest.mark.parametrize("round_", range(TRAIN_ROUNDS))
def test_concurrent_trainings_of_same_and_different_names_each_register_once(project: Path, datasets_dir: Path,
                                                                             round_: int) -> None:
    store = project_store(project)
    store.engine.dispose()
    subprocess.run([TESLA, "load", "-d", str(datasets_dir / "iris.csv"), "-o", "iris", "--target", "target"],
                   cwd=project, check=True, capture_output=True)
    # half train one name on different splits (four different bundles), half a name each
    args = [["train", "-m", "shared", "-p", "1", f"data.split.seed={i}"] for i in range(WRITERS // 2)]
    args += [["train", "-m", f"own{i}", "-p", "1"] for i in range(WRITERS // 2)]
    _all_succeed([_start(a, project) for a in args], "trainings")

    store = project_store(project)
    shared = store.model_versions("shared")
    assert [m.version for m in shared] == list(range(1, WRITERS // 2 + 1))
    assert len({m.bundle_sha for m in shared}) == WRITERS // 2
    for i in range(WRITERS // 2):
        assert [m.version for m in store.model_versions(f"own{i}")] == [1]
    runs = [r for r in store.runs(limit=100) if r.plan_name.startswith("train/")]
    assert len(runs) == WRITERS and all(r.status == "succeeded" for r in runs)
    registered = [m.run_id for name in ("shared", *(f"own{i}" for i in range(WRITERS // 2)))
                  for m in store.model_versions(name)]
    assert sorted(registered) == sorted(r.id for r in runs)  # every run recorded once, each with its version
