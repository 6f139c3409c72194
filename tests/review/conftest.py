"""A project in a git repository, as a team keeps one: helpers to commit and to run git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# fixed authors and dates: the fixture repositories get the same commit ids on every machine
GIT_ENV = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_NAME": "Ada",
           "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return proc.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def declare_source(root: Path, source: str = "data/bc.csv", target: str = "target", extra: str = "") -> None:
    """Declare the training data in the project's config (appended to conf/config.yaml, as a user would)."""
    with (root / "conf" / "config.yaml").open("a") as f:
        f.write(f"data:\n  source: {source}\n  target: {target}\n{extra}")
