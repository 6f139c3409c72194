"""The bad-input corpus's one check, shared by every ``test_corpus_*.py`` file.

A refused input must give exactly one ``Error: ...`` line (progress lines may come before it)
naming the culprit, the right exit code (usage errors 2, other mistakes 1), no traceback, and
leave the store as it was. ``cli`` runs ``tesla.cli.main`` in this process (about 50x cheaper
than a new interpreter, so the corpus can be large); ``tests/reliability/test_usage_errors.py``
and the ``e2e`` cases prove the same through the installed executable.
"""

from __future__ import annotations

import io
import os
import re
import sys
from contextlib import chdir, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import store_snapshot


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def cli(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> Outcome:
    """Run ``tesla ARGV`` in this process from ``cwd``; the exit code is what the shell would see."""
    from tesla.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    code = 0
    try:
        with chdir(cwd), redirect_stdout(out), redirect_stderr(err):
            try:
                main(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()
    sys.stdout.flush()
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_one_error(outcome: Outcome, *, code: int, names: str) -> str:
    """Exactly one ``Error:`` line, last on stderr, matching the regex ``names``; no traceback."""
    assert outcome.code == code, f"exit {outcome.code}, wanted {code}\n{outcome.err}"
    lines = outcome.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], outcome.err
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    assert re.search(names, errors[0]), errors[0]
    return errors[0]


def assert_refused(project: Path, *argv: str, code: int = 1, names: str, cwd: Path | None = None,
                   env: dict[str, str] | None = None) -> str:
    """Run ``tesla ARGV`` against ``project``: one error line naming ``names``, store untouched."""
    before = store_snapshot(project)
    line = assert_one_error(cli(*argv, cwd=cwd or project, env=env), code=code, names=names)
    assert store_snapshot(project) == before, f"tesla {' '.join(argv)} changed the store"
    return line
