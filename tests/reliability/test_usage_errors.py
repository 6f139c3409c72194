"""Usage errors through the installed ``tesla`` executable, in a new process as a user runs it.

typer >= 0.2x raises its vendored click's exceptions (``typer._click``); a ``main`` that
catches only the real click's printed a traceback and exited 1 for every case below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_tesla

# (argv, a fragment the one line must hold: the option, command or value at fault)
CASES = {
    "unknown-global-option": (["--bogus"], "No such option: --bogus"),
    "misspelt-command": (["trian"], "Did you mean 'train'?"),
    "load-without-data": (["load"], "'-d' / '--data'"),
    "load-without-name": (["load", "-d", "x.csv"], "'-o'"),
    "trials-not-a-number": (["train", "-p", "abc"], "'-p' / '--trials'"),
    "rollback-version-not-a-number": (["data", "rollback", "bc", "abc"], "'version'"),
    "unknown-train-option": (["train", "--bogus-flag"], "No such option: --bogus-flag"),
    "bad-plan-format": (["plan", "--format", "xml"], "--format must be text, json or md"),
    "monitor-without-model": (["monitor"], "'-m' / '--model'"),
    "misspelt-subcommand": (["data", "lsit"], "No such command 'lsit'"),
    "not-an-override": (["plan", "search.metric"], "is not an override"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("argv,fragment", CASES.values(), ids=CASES.keys())
def test_a_usage_error_is_one_line_and_exit_2(argv: list[str], fragment: str, tmp_path: Path) -> None:
    proc = run_tesla(*argv, cwd=tmp_path, check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / ".tesla").exists()  # a usage error writes nothing


@pytest.mark.e2e
def test_the_usage_hint_names_the_command(tmp_path: Path) -> None:
    proc = run_tesla("train", "-p", "abc", cwd=tmp_path, check=False, timeout=60)
    assert proc.stderr.strip().endswith("(see 'tesla train --help')")


@pytest.mark.e2e
@pytest.mark.parametrize("argv", [[], ["data"]], ids=["bare-tesla", "bare-group"])
def test_a_bare_group_prints_its_help(argv: list[str], tmp_path: Path) -> None:
    proc = run_tesla(*argv, cwd=tmp_path, check=False, timeout=60)
    assert proc.returncode == 2 and "Usage:" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_both_click_copies_are_caught() -> None:
    from tesla.cli._usage import CLICK_ERRORS, USAGE_ERRORS

    import typer

    vendored = getattr(typer, "_click", None)
    if vendored is not None:
        assert vendored.exceptions.UsageError in USAGE_ERRORS
        assert vendored.exceptions.ClickException in CLICK_ERRORS
