"""The Ray backend passes the shipped BackendContract suite on a real local Ray cluster."""

from __future__ import annotations

import pytest

from tesla.store import Store
from tesla.testing.contract import BackendContract

pytestmark = pytest.mark.slow


class TestRayBackend(BackendContract):
    @pytest.fixture
    def backend(self, contract_store: Store, ray_settings: dict):
        from tesla_backends.ray._backend import RayBackend

        return RayBackend(ray_settings, contract_store)
