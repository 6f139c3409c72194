"""Users, roles and API tokens as the store keeps them: records, and how a token is made and checked.

A token is ``tesla_<id>_<secret>``: ``id`` (8 hex characters) is public, shown by ``tesla tokens
list`` and used to revoke it; ``secret`` is ``secrets.token_urlsafe(32)`` (256 random bits). The
store keeps only the sha256 of the whole token, so a copy of the database lets no one call the
server. A fast hash is right here, unlike for passwords: bcrypt/scrypt/argon2 are slow on purpose
to make guessing a *low-entropy* password expensive, but nobody can enumerate 2**256 secrets at
any speed, and a slow hash would only add ~100 ms to every request the server checks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["ROLES", "ApiToken", "User", "hash_token", "matches", "new_token", "role_allows", "token_id"]

ROLES = ("read", "write", "admin")  # each role includes every role before it
_PREFIX = "tesla_"
_TOKEN = re.compile(r"tesla_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class User:
    """Someone who may use this project's REST server, with one role in it."""

    name: str
    role: str
    created_at: str | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class ApiToken:
    """One API token of a user; the secret is not in it (the store never had it)."""

    id: str
    user: str
    note: str | None = None
    created_at: str | None = None
    created_by: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed`` (admin ⊇ write ⊇ read); an unknown role allows nothing."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def new_token() -> tuple[str, str]:
    """A fresh token as (id, token); only ``hash_token(token)`` may be stored."""
    token_id = secrets.token_hex(4)
    return token_id, f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """The sha256 hex digest the store keeps for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str | None:
    """The public id of a well-formed token; ``None`` for anything else (it cannot be valid)."""
    match = _TOKEN.fullmatch(token)
    return match.group(1) if match else None


def matches(token: str, stored_sha256: str) -> bool:
    """Whether ``token`` hashes to ``stored_sha256``, compared in constant time."""
    return hmac.compare_digest(hash_token(token), stored_sha256)
