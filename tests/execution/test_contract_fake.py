"""The FakeBackend (shipped for app tests) passes the contract too, with real polling."""

from __future__ import annotations

import pytest

from tesla.execution import Backend
from tesla.store import Store
from tesla.testing.contract import BackendContract
from tesla.testing.fake import FakeBackend, FakeClock


class TestFakeBackend(BackendContract):
    @pytest.fixture
    def backend(self, contract_store: Store) -> Backend:
        clock = FakeClock()
        return FakeBackend({"name": "fake"}, contract_store, clock=clock, sleep=clock.advance, polls=3)
