"""The local backend passes the conformance suite every backend passes."""

from __future__ import annotations

import pytest

from tesla.execution import Backend
from tesla.store import Store
from tesla.testing.contract import BackendContract
from tesla_backends.local._backend import LocalBackend


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self, contract_store: Store) -> Backend:
        return LocalBackend({"name": "local"}, contract_store)
