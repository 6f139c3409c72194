"""The CI workflow `tesla init` writes works on a fresh clone, which has no .tesla/ (git ignores it): with
no team store in its secrets it compiles against the data the config declares (data.source, committed).

The test runs the workflow file's own `run:` commands, read from the YAML, in a fresh `git clone`, with
the `tesla` installed here. Two need the network and are left out: `pip install tesla-ml==...` (this
environment already has that version) and `gh pr comment` (posts to GitHub); the test checks what they
would do instead: the pinned version is this one, and the comment file exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tesla._version import __version__
from tests.conftest import run_tesla
from tests.review.conftest import GIT_ENV, commit_all, declare_source, git

NETWORK = ("pip install", "gh ")


def _workflow_env(job: dict, summary: Path) -> dict[str, str]:
    """The job's env as GitHub would give it with no secrets set (``${{ secrets.X }}`` is empty), plus the
    variables the runner sets for a pull request."""
    env = {k: "" if "${{" in str(v) else str(v) for k, v in job.get("env", {}).items()}
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, **GIT_ENV, **env, "GITHUB_BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary),
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def test_the_init_workflow_runs_on_a_fresh_clone_without_a_store(tmp_path: Path, datasets_dir: Path) -> None:
    run_tesla("init", "proj", cwd=tmp_path)
    origin = tmp_path / "proj"
    shutil.copy(datasets_dir / "bc.csv", origin / "data" / "bc.csv")
    declare_source(origin)
    git(origin, "init", "-q", "-b", "main")
    commit_all(origin, "a tesla project")
    git(origin, "checkout", "-q", "-b", "more-trials")
    cfg = origin / "conf" / "search" / "default.yaml"
    cfg.write_text(re.sub(r"max_iter: (\d+|null)", "max_iter: 40", cfg.read_text()))
    commit_all(origin, "search longer")
    run_tesla("plan", "-m", "m", cwd=origin)  # the developer's own store: a fresh clone does not get it
    assert (origin / ".tesla").is_dir()

    clone = tmp_path / "ci" / "checkout"
    git(tmp_path, "clone", "-q", "--branch", "more-trials", str(origin), str(clone))
    assert not (clone / ".tesla").exists()
    workflow = yaml.safe_load((clone / ".github" / "workflows" / "tesla.yml").read_text())
    (job,) = workflow["jobs"].values()
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert any(f'tesla-ml=={__version__}"' in c for c in commands)  # CI computes this version's fingerprints
    summary = tmp_path / "summary.md"
    env = _workflow_env(job, summary)
    for command in commands:
        if command.startswith(NETWORK):
            continue
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    text = summary.read_text()
    assert "### Tesla plan `train/model`" in text
    assert "## Tesla review: `train/model` against `origin/main`" in text
    assert "| `search.max_iter` | `null` | `40` |" in text
    assert "| search | invalidated | search.max_iter: null -> 40 |" in text
    assert "No training result for this plan yet" in text  # a fresh clone has trained nothing
    assert (clone / "tesla-review.md").read_text() in text  # the file `gh pr comment` posts
