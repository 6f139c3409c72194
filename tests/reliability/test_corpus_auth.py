"""Bad-input corpus: `tesla users ...`, `tesla tokens ...` and `tesla server`'s binding rule.

Each mistake is one ``Error:`` line naming the culprit (an unknown user or token id with the
closest one, a bad role with the allowed ones), exit 1 (2 for usage), and the store untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla.project import Project
from tests.reliability.corpus import assert_refused, cli

ROLES = r"roles are read, write, admin"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with users alice (write, one token) and bob (read)."""
    root = Project.init(tmp_path_factory.mktemp("team") / "proj").root
    users = Project(root).users
    users.add("alice", "write")
    users.add("bob", "read")
    users.create_token("alice")
    return root


CASES = [
    ("add-existing", ("users", "add", "alice"), 1, r"user 'alice' already exists \(role write\).*tesla users role"),
    ("add-bad-role", ("users", "add", "carol", "--role", "owner"), 1, rf"unknown role 'owner'; {ROLES}"),
    ("add-close-role", ("users", "add", "carol", "--role", "writer"), 1, r"unknown role 'writer'.*Did you mean 'write'"),
    ("add-bad-name", ("users", "add", "c d"), 1, r"user name 'c d' is not allowed"),
    ("add-empty-name", ("users", "add", ""), 1, r"user name '' is not allowed"),
    ("add-no-name", ("users", "add"), 2, r"(?i)Missing argument 'name'"),
    ("role-unknown-user", ("users", "role", "alcie", "admin"), 1, r"no user named 'alcie'. Did you mean 'alice'\?"),
    ("role-bad-role", ("users", "role", "alice", "root"), 1, rf"unknown role 'root'; {ROLES}"),
    ("role-no-role", ("users", "role", "alice"), 2, r"(?i)Missing argument 'role'"),
    ("remove-unknown", ("users", "remove", "bobb"), 1, r"no user named 'bobb'. Did you mean 'bob'\?"),
    ("remove-far", ("users", "remove", "zed"), 1, r"no user named 'zed'. Users: alice, bob"),
    ("token-unknown-user", ("tokens", "create", "alise"), 1, r"no user named 'alise'. Did you mean 'alice'\?"),
    ("tokens-list-unknown", ("tokens", "list", "carl"), 1, r"no user named 'carl'"),
    ("revoke-unknown", ("tokens", "revoke", "deadbeef"), 1, r"no API token with id 'deadbeef'"),
    ("revoke-no-id", ("tokens", "revoke"), 2, r"(?i)Missing argument '(id|token_id)'"),
]


@pytest.mark.parametrize(("argv", "code", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_and_token_mistakes_are_one_line(team: Path, argv: tuple[str, ...], code: int, names: str) -> None:
    assert_refused(team, *argv, code=code, names=names)


def test_an_unknown_user_in_a_project_without_users_says_how_to_add_one(project: Path) -> None:
    assert_refused(project, "tokens", "create", "ann", names=r"no user named 'ann'. Add one with `tesla users add")


def test_a_token_id_close_to_a_real_one_is_suggested(team: Path) -> None:
    real = Project(team).users.tokens("alice")[0].id
    assert_refused(team, "tokens", "revoke", real[:5], names=rf"Did you mean '{real}'\?")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::"])
def test_the_server_does_not_bind_off_loopback_without_users(project: Path, host: str) -> None:
    assert_refused(project, "server", "--host", host, code=2,
                   names=r"the project has no users.*create a user with `tesla users add.*to bind off loopback")


def test_users_commands_outside_a_project_are_refused(tmp_path: Path) -> None:
    outcome = cli("users", "list", cwd=tmp_path)
    assert outcome.code == 1 and outcome.err.startswith("Error: no Tesla project in")
