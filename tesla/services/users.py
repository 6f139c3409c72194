"""Who may use the project's REST server: users with a role, their API tokens, and the checks on a request.

Users and tokens are managed locally, by whoever can write the project's store (``tesla users ...``,
``tesla tokens ...``): that is the server's admin. The server authenticates a request's bearer token
(``authenticate``) and checks its role against what the request does (``authorize``). Auth is on as
soon as the store has one user; with none, the server is a single person's local tool and answers
loopback requests without a token, as it always has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tesla.errors import (
    AuthError,
    ConfigError,
    PermissionDenied,
    UserNotFoundError,
    did_you_mean,
)
from tesla.store.auth import (
    ROLES,
    ApiToken,
    User,
    hash_token,
    matches,
    new_token,
    role_allows,
    token_id,
)

if TYPE_CHECKING:
    from tesla.project import Project
    from tesla.store import Store

__all__ = ["CreatedToken", "UserService"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HOW_TO_GET_ONE = "an admin of the project creates one with `tesla tokens create USER`"


@dataclass(frozen=True)
class CreatedToken:
    """A new API token: ``secret`` is the whole token, shown this once and stored nowhere."""

    token: ApiToken
    secret: str


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``.

    Raises:
        ConfigError: any other value; the message lists the allowed ones.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'; roles are {', '.join(ROLES)} (each includes the ones before it)."
                          f"{did_you_mean(role, ROLES)}", key="role")
    return role


class UserService:
    """Users, roles and API tokens of one project."""

    def __init__(self, project: Project) -> None:
        self._project = project

    @property
    def _store(self) -> Store:
        return self._project.store

    # -- users ----------------------------------------------------------------------------------------
    def list(self) -> list[User]:
        return self._store.users()

    def get(self, name: str) -> User:
        """The user ``name``.

        Raises:
            UserNotFoundError: no such user (with the closest name, or how to add one).
        """
        user = self._store.user(name)
        if user is None:
            names = [u.name for u in self._store.users()]
            hint = did_you_mean(name, names) or (f" Users: {', '.join(names)}." if names else
                                                 " Add one with `tesla users add NAME --role ROLE`.")
            raise UserNotFoundError(f"no user named '{name}'.{hint}", key="user")
        return user

    def add(self, name: str, role: str = "read") -> User:
        """Add a user with ``role``.

        Raises:
            ConfigError: a bad name or role, or a user of that name exists already.
        """
        check_role(role)
        if not _NAME.fullmatch(name):
            raise ConfigError(f"user name '{name}' is not allowed; use 1-64 letters, digits and . _ @ - "
                              "(starting with a letter or digit)", key="user")
        existing = self._store.user(name)
        if existing is not None:
            raise ConfigError(f"user '{name}' already exists (role {existing.role}); change the role with "
                              f"`tesla users role {name} ROLE`", key="user")
        return self._store.add_user(name, role)

    def set_role(self, name: str, role: str) -> User:
        check_role(role)
        self.get(name)
        self._store.set_user_role(name, role)
        return self.get(name)

    def remove(self, name: str) -> tuple[User, int]:
        """Remove a user and their tokens; returns the user and how many tokens were deleted."""
        user = self.get(name)
        return user, self._store.remove_user(name)

    # -- tokens ---------------------------------------------------------------------------------------
    def create_token(self, name: str, note: str | None = None) -> CreatedToken:
        """A new API token for user ``name``; its secret is in the result only."""
        self.get(name)
        tid, secret = new_token()
        return CreatedToken(self._store.add_token(tid, name, hash_token(secret), note), secret)

    def tokens(self, name: str | None = None) -> list[ApiToken]:
        if name is not None:
            self.get(name)
        return self._store.tokens(name)

    def revoke(self, tid: str) -> tuple[ApiToken, bool]:
        """Revoke token ``tid``; returns it and whether it was active until now.

        Raises:
            UserNotFoundError: no token with that id (with the closest id).
        """
        token = self._store.token(tid)
        if token is None:
            ids = [t.id for t in self._store.tokens()]
            hint = did_you_mean(tid, ids) or " See `tesla tokens list` for the ids."
            raise UserNotFoundError(f"no API token with id '{tid}'.{hint}", key="token")
        if token.active:
            self._store.revoke_token(tid)
        return token, token.active

    # -- the server's checks --------------------------------------------------------------------------
    def auth_required(self) -> bool:
        """Whether requests need a token: the store has at least one user."""
        return self._store.has_users()

    def authenticate(self, token: str | None) -> User:
        """The user a presented bearer token belongs to.

        Raises:
            AuthError: no token, a malformed one, or one that is unknown or revoked.
        """
        if not token:
            raise AuthError("this server needs an API token: send the header 'Authorization: Bearer TOKEN' "
                            f"({_HOW_TO_GET_ONE})", key="authorization")
        tid = token_id(token)
        found = self._store.token_hash(tid) if tid else None
        if found is None or not matches(token, found[1]):
            raise AuthError(f"the API token is not valid (unknown, revoked or mistyped); {_HOW_TO_GET_ONE}",
                            key="authorization")
        user = self._store.user(found[0].user)
        if user is None:  # removed between the two reads
            raise AuthError(f"the API token's user no longer exists; {_HOW_TO_GET_ONE}", key="authorization")
        return user

    @staticmethod
    def authorize(user: User, needed: str, action: str) -> None:
        """Check that ``user`` may do ``action`` (e.g. ``POST /data/load``), which needs role ``needed``.

        Raises:
            PermissionDenied: the user's role does not include ``needed``.
        """
        if not role_allows(user.role, needed):
            raise PermissionDenied(f"user '{user.name}' has role '{user.role}'; {action} needs '{needed}' or "
                                   f"higher (an admin can run `tesla users role {user.name} {needed}`)", key="role")
