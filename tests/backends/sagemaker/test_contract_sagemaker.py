"""The SageMaker backend passes the conformance suite, against moto over HTTP on 127.0.0.1.

Every step really runs: the container player executes each job's own entrypoint and
arguments on the channels moto stored, so uploads, the container command and collection
are all exercised.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tesla.execution import Backend
from tesla.store import Store
from tesla.testing.contract import BackendContract
from tesla_backends.sagemaker._backend import SageMakerBackend

pytestmark = pytest.mark.slow  # each step is a subprocess that imports pandas


class TestSageMakerBackend(BackendContract):
    @pytest.fixture
    def backend(self, contract_store: Store, sm: SimpleNamespace, sm_clients: Any, player: Any) -> Backend:
        return SageMakerBackend(sm.settings(), contract_store, clients=sm_clients, sleep=lambda _s: None)
