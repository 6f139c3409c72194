"""A failed deploy names this attempt's reason, never an earlier attempt's log lines; nothing is recorded.

The local server's log is appended to across attempts (``.tesla/logs/<model>-<profile>-v<N>.log``);
the error quotes only what this attempt's server wrote.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_tesla, store_snapshot
from tests.reliability.corpus import assert_one_error, assert_refused


@pytest.fixture
def deployable(trained_project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained_project, tmp_path / "proj"))


def test_the_server_error_quotes_only_this_attempts_log_lines(tmp_path: Path) -> None:
    from tesla.errors import DeployError
    from tesla.serving.process import start_server

    log = tmp_path / "m-production-v1.log"
    log.write_text("".join(f"Error: an earlier attempt's reason {i}\n" for i in range(5)))
    with pytest.raises(DeployError) as info:
        start_server(tmp_path / "no-bundle", host="127.0.0.1", port=0, model_ref="m@1", log_path=log)
    message = str(info.value)
    assert "is not a model bundle" in message and "earlier attempt" not in message, message
    assert "earlier attempt's reason 4" in log.read_text()  # the log itself keeps every attempt


# case id -> (deploy overrides of the attempt before, of this attempt, what this one's error names)
CASES = {
    "second-attempt-other-token": ("deploy.auth_token_env=TESLA_CRASH_TOKEN_A", "deploy.auth_token_env=TESLA_CRASH_TOKEN_B",
                                   r"TESLA_CRASH_TOKEN_B \(deploy\.auth_token_env\) is empty"),
    "second-attempt-same-token": ("deploy.auth_token_env=TESLA_CRASH_TOKEN_A", "deploy.auth_token_env=TESLA_CRASH_TOKEN_A",
                                  r"TESLA_CRASH_TOKEN_A \(deploy\.auth_token_env\) is empty"),
    "token-then-port": ("deploy.auth_token_env=TESLA_CRASH_TOKEN_A", "deploy.port={busy}", r"port {busy} .*is in use"),
    "port-then-token": ("deploy.port={busy}", "deploy.auth_token_env=TESLA_CRASH_TOKEN_B",
                        r"TESLA_CRASH_TOKEN_B \(deploy\.auth_token_env\) is empty"),
}


@pytest.mark.parametrize("before, now, names", CASES.values(), ids=CASES.keys())
def test_a_failed_deploy_after_a_failed_deploy_names_only_its_own_reason(deployable: Path, busy_port: int, before: str,
                                                                         now: str, names: str) -> None:
    before, now, names = (s.replace("{busy}", str(busy_port)) for s in (before, now, names))
    assert_refused(deployable, "deploy", "-m", "bc_model", before, names=".")
    line = assert_refused(deployable, "deploy", "-m", "bc_model", now, names=names)
    assert "TESLA_CRASH_TOKEN_A" not in line or "TESLA_CRASH_TOKEN_A" in now, line
    assert line.count("is empty") <= 1, line  # one attempt's reason, not two


@pytest.mark.e2e
def test_through_the_executable_the_second_failure_names_its_own_token(deployable: Path) -> None:
    before = store_snapshot(deployable)
    run_tesla("deploy", "-m", "bc_model", "deploy.auth_token_env=TESLA_CRASH_TOKEN_A", cwd=deployable, check=False)
    proc = run_tesla("deploy", "-m", "bc_model", "deploy.auth_token_env=TESLA_CRASH_TOKEN_B", cwd=deployable,
                     check=False)
    from tests.reliability.corpus import Outcome

    line = assert_one_error(Outcome(proc.returncode, proc.stdout, proc.stderr), code=1, names="TESLA_CRASH_TOKEN_B")
    assert "TESLA_CRASH_TOKEN_A" not in line, line
    assert store_snapshot(deployable) == before
