"""Public names are exactly what `__all__` says (httpx-style export test)."""

from __future__ import annotations

import importlib

import pytest

import tesla

PACKAGES = ["tesla.api", "tesla.project", "tesla.services", "tesla.errors", "tesla.plan", "tesla.execution", "tesla.store", "tesla.models",
            "tesla.config", "tesla.data"]


def test_tesla_all_matches_the_lazy_api() -> None:
    public = sorted(n for n in tesla.__all__ if n != "__version__")
    assert public == ["Project", "compile_plan", "deploy", "evaluate", "init_project", "load", "predict", "train"]
    for name in public:
        assert callable(getattr(tesla, name))


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []
    assert len(set(module.__all__)) == len(module.__all__)
