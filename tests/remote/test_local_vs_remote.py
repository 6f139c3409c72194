"""Every main command, run locally and with ``--remote`` against a real ``tesla server``: same stdout, same
exit code, same ``Error:`` line.

Two identical projects: ``a/proj`` is worked on locally, ``b/proj`` sits behind a ``tesla server``
process started here (free port, stopped by PID; the deployments it starts are stopped too). The
remote commands run from ``b/client``, a directory outside the server's project holding the same
data files, so every input file really is uploaded. Both project roots have the same length, so
normalising them (and timings, ids, ports, pids) keeps rich's column widths comparable; table
padding is collapsed anyway. The steps run in order and each side's store sees the same sequence.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tesla.project import Project
from tests.remote.conftest import free_port, running_server
from tests.reliability.corpus import Outcome, cli

USER = "ada"  # the admin: locally TESLA_USER, remotely the user of the token


@dataclass
class Sides:
    local: Path  # the local project (cwd of local commands)
    served: Path  # the project behind the server
    client: Path  # cwd of remote commands
    url: str
    token: str

    def run(self, side: str, argv: list[str]) -> Outcome:
        env = {"TESLA_USER": USER}
        if side == "local":
            return cli(*argv, cwd=self.local, env=env)
        return cli("--remote", self.url, "--token", self.token, *argv, cwd=self.client, env=env)


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Iterator[Sides]:
    base = tmp_path_factory.mktemp("lvr")
    roots = []
    for side in ("a", "b"):
        root = base / side / "proj"
        assert cli("init", str(root), cwd=base).code == 0
        Project(root, user="setup").users.add(USER, "admin")  # the first admin is made locally
        roots.append(root)
    local, served = roots
    client = base / "b" / "client"
    client.mkdir()
    token = Project(served).users.create_token(USER, note="test").secret
    Project(local).users.create_token(USER, note="test")  # the same sequence in both stores
    for where in (local, client):
        shutil.copy(datasets_dir / "iris.csv", where / "iris.csv")
    with running_server(served, {"TESLA_USER": USER}) as url:
        try:
            yield Sides(local, served, client, url, token)
        finally:
            for root in roots:  # the model servers deploy started
                for dep in Project(root).deployments.list(active_only=True):
                    Project(root).deployments.stop(_field(dep, "model"))


def _field(record: Any, name: str) -> Any:
    """A deployment's field, whether the store gives a dict or a record (another branch makes them records)."""
    return record[name] if isinstance(record, dict) else getattr(record, name)


def _normal(text: str, sides: Sides) -> str:
    for root in (sides.local, sides.served):
        text = text.replace(str(root), "<ROOT>")
    for root in (sides.local, sides.served):  # pids of the model servers
        for dep in Project(root).deployments.list():
            if _field(dep, "pid"):
                text = re.sub(rf"\b{_field(dep, 'pid')}\b", "<PID>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", "<TIME>", text)
    text = re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:<PORT>", text)
    text = re.sub(r"\b(run|sweep) [0-9a-f]{12}\b", r"\1 <RUN>", text)
    text = re.sub(r"tesla_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", "<TOKEN>", text)
    text = re.sub(r"(?<![0-9a-f])[0-9a-f]{8}(?![0-9a-f])", "<ID8>", text)  # token ids
    text = re.sub(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])(?= )", "<ID12>", text)  # run ids in tables
    return "\n".join(re.sub(r"[ ─━]+", " ", line).strip() for line in text.splitlines())


def _error_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.err.splitlines() if line.startswith("Error:")]


# (id, argv, exit code); run in this order on both sides
STEPS: list[tuple[str, list[str], int]] = [
    ("load", ["load", "-d", "iris.csv", "-o", "iris", "--target", "target", "--message", "first"], 0),
    ("load unchanged", ["load", "-d", "iris.csv", "-o", "iris", "--target", "target"], 0),
    ("load missing file", ["load", "-d", "nope.csv", "-o", "x"], 1),
    ("load bad target", ["load", "-d", "iris.csv", "-o", "x", "--target", "nope"], 1),
    ("data list", ["data", "list"], 0),
    ("data log", ["data", "log", "iris"], 0),
    ("data profile", ["data", "profile", "iris"], 0),
    ("data log unknown", ["data", "log", "ghost"], 1),
    ("plan", ["plan", "-m", "m", "-p", "2"], 0),
    ("plan json", ["plan", "-m", "m", "-p", "2", "--format", "json"], 0),
    ("plan md", ["plan", "-m", "m", "-p", "2", "--format", "md"], 0),
    ("plan bad override", ["plan", "-m", "m", "search.metrc=log_loss"], 1),
    ("plan bad format", ["plan", "-m", "m", "--format", "xml"], 2),
    ("train", ["train", "-m", "m", "-p", "2"], 0),
    ("train cached", ["train", "-m", "m", "-p", "2"], 0),
    ("train bad override", ["train", "-m", "m", "-p", "2", "data.split.test_size=7"], 1),
    ("models list", ["models", "list"], 0),
    ("runs list", ["runs", "list"], 0),
    ("evaluate", ["evaluate", "-m", "m", "-d", "iris.csv"], 0),
    ("evaluate json", ["evaluate", "-m", "m", "-d", "iris.csv", "--json"], 0),
    ("evaluate unknown model", ["evaluate", "-m", "ghost", "-d", "iris.csv"], 1),
    ("evaluate missing file", ["evaluate", "-m", "m", "-d", "nope.csv"], 1),
    ("predict", ["predict", "-m", "m", "-d", "iris.csv"], 0),
    ("predict to a file", ["predict", "-m", "m", "-d", "iris.csv", "-o", "out/preds.csv"], 0),
    ("predict unknown model", ["predict", "-m", "ghost@3", "-d", "iris.csv"], 1),
    ("deploy", ["deploy", "-m", "m", "-p", "staging"], 0),
    ("deploy again", ["deploy", "-m", "m", "-p", "staging"], 0),
    ("deploy unknown model", ["deploy", "-m", "ghost", "-p", "staging"], 1),
    ("deployments list", ["deployments", "list"], 0),
    ("monitor", ["monitor", "-m", "m", "-p", "staging"], 0),
    ("monitor history", ["monitor", "history", "-m", "m"], 0),
    ("deployments stop", ["deployments", "stop", "m"], 0),
    ("deployments list all", ["deployments", "list", "--all"], 0),
    ("users add", ["users", "add", "bob", "--role", "read"], 0),
    ("users add bad role", ["users", "add", "eve", "--role", "boss"], 1),
    ("users role", ["users", "role", "bob", "write"], 0),
    ("tokens create", ["tokens", "create", "bob", "--note", "laptop"], 0),
    ("tokens list", ["tokens", "list"], 0),
    ("users list", ["users", "list"], 0),
    ("users remove", ["users", "remove", "bob"], 0),
    ("users remove unknown", ["users", "remove", "ghost"], 1),
]


@pytest.mark.parametrize(("argv", "code"), [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_the_same_output_and_exit_code_locally_and_remotely(sides: Sides, argv: list[str], code: int) -> None:
    local, remote = sides.run("local", argv), sides.run("remote", argv)
    assert local.code == code, local.err
    assert remote.code == local.code, f"remote exit {remote.code}, local {local.code}\n{remote.err}"
    assert _normal(remote.out, sides) == _normal(local.out, sides)
    assert [_normal(e, sides) for e in _error_lines(remote)] == [_normal(e, sides) for e in _error_lines(local)]
    assert "Traceback" not in remote.err


def test_predict_output_is_written_on_the_callers_machine(sides: Sides) -> None:
    written = sides.client / "out" / "preds.csv"
    assert written.is_file()
    assert written.read_text() == (sides.local / "out" / "preds.csv").read_text()
    assert not (sides.served / "out").exists()


def test_what_the_server_records_names_the_tokens_user(sides: Sides) -> None:
    assert {m.created_by for m in Project(sides.served).training.models()} == {USER}


@pytest.mark.parametrize(("argv", "names"), [
    (["init", "new-proj"], r"`tesla init` works on this machine only; drop --remote"),
    (["server"], r"`tesla server` works on this machine only; drop --remote"),
    (["data", "list", "--project", "elsewhere"], r"--project elsewhere names a local directory.*drop one"),
], ids=["init", "server", "--project"])
def test_local_only_commands_refuse_remote_as_a_usage_error(sides: Sides, argv: list[str], names: str) -> None:
    outcome = sides.run("remote", argv)
    assert outcome.code == 2, outcome.err
    assert re.search(names, outcome.err), outcome.err
    assert not (sides.client / "new-proj").exists()


@pytest.mark.parametrize(("url", "token", "names"), [
    ("http://127.0.0.1:{dead}", "good", r"cannot reach the Tesla server at http://127\.0\.0\.1:\d+ .*check --remote / "
                                       r"TESLA_SERVER"),
    ("{url}", None, r"needs an API token.*pass the token with --token / TESLA_TOKEN"),
    ("{url}", "tesla_00000000_" + "x" * 43, r"not valid.*pass the token with --token / TESLA_TOKEN"),
    ("{url}/nope", "good", r"is not a Tesla server.*check --remote / TESLA_SERVER"),
], ids=["refused", "no token", "bad token", "wrong url"])
def test_a_server_that_cannot_be_used_is_one_line_naming_the_option(sides: Sides, url: str, token: str | None,
                                                                    names: str) -> None:
    url = url.format(url=sides.url, dead=free_port())
    args = ["--remote", url] + (["--token", sides.token if token == "good" else token] if token else [])
    outcome = cli(*args, "data", "list", cwd=sides.client, env={"TESLA_TOKEN": ""})
    assert outcome.code == 1, outcome.err
    errors = _error_lines(outcome)
    assert len(errors) == 1 and re.search(names, errors[0]), outcome.err


def test_a_read_token_may_look_but_not_write(sides: Sides) -> None:
    users = Project(sides.served, user="setup").users
    users.add("rita", "read")
    secret = users.create_token("rita").secret
    looked = cli("--remote", sides.url, "--token", secret, "models", "list", cwd=sides.client)
    assert looked.code == 0, looked.err
    wrote = cli("--remote", sides.url, "--token", secret, "load", "-d", "iris.csv", "-o", "other", cwd=sides.client)
    assert wrote.code == 1
    assert re.search(r"Error: user 'rita' has role 'read'; POST /uploads needs 'write'.*--token / TESLA_TOKEN",
                     wrote.err), wrote.err


def test_the_env_variables_select_the_server_and_token(sides: Sides) -> None:
    outcome = cli("models", "list", cwd=sides.client, env={"TESLA_SERVER": sides.url, "TESLA_TOKEN": sides.token})
    assert outcome.code == 0, outcome.err
    assert "m@1" in outcome.out  # the server's project: the client directory holds none

