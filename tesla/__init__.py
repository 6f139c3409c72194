"""Tesla: describe an ML pipeline as Hydra configs, compile it to a plan, run it anywhere.

The library API lives in :mod:`tesla.api`; it is re-exported here lazily so that
``import tesla`` stays cheap (no pandas, sklearn or flaml at import time).
"""

from __future__ import annotations

from typing import Any

from tesla._version import __version__

__all__ = [
    "__version__",
    "compile_plan",
    "deploy",
    "evaluate",
    "init_project",
    "load",
    "predict",
    "train",
]


def __getattr__(name: str) -> Any:
    # lazy re-export: tesla.api pulls in the config and store layers
    if name in __all__ and name != "__version__":
        from tesla import api

        return getattr(api, name)
    raise AttributeError(f"module 'tesla' has no attribute {name!r}")
