"""The store suite runs twice: on the embedded SQLite store and on a real PostgreSQL server.

Every test here gets ``store_db`` ("sqlite" or "postgresql"); for PostgreSQL, ``TESLA_DB_URL``
names a fresh database, so ``Store.open`` and every `tesla` subprocess a test starts use it. A test
module that reads the SQLite file itself sets ``SQLITE_ONLY = True`` (or to the reason it needs no PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import new_postgres_database


@pytest.fixture(autouse=True, params=["sqlite", "postgresql"])
def store_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "postgresql":
        if reason := getattr(request.module, "SQLITE_ONLY", None):  # True, or why it does not need PostgreSQL
            pytest.skip(reason if isinstance(reason, str) else "reads the SQLite file of the store itself")
        monkeypatch.setenv("TESLA_DB_URL", new_postgres_database(request.getfixturevalue("postgres_server")))
    yield request.param
