"""The Vertex backend passes the conformance suite every backend passes.

Each remote step is a CustomJob on the loopback fake; the fake plays its container (the
real command, `python -m tesla.steps` from the code package) in a subprocess, with Cloud
Storage FUSE emulated over the GCS emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tesla.execution import Backend
from tesla.store import Store
from tesla.testing.contract import BackendContract

pytestmark = pytest.mark.slow  # each step is a subprocess


class TestVertexBackend(BackendContract):
    @pytest.fixture
    def backend(self, contract_store: Store, make_backend: Callable[..., Any]) -> Backend:
        return make_backend(contract_store)
