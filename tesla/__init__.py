"""Tesla: describe an ML pipeline as Hydra configs, compile it to a plan, run it anywhere.

``tesla.Project`` is the session: ``Project(path)`` finds the project root, opens its store once
and offers the five services (``data``, ``training``, ``evaluation``, ``deployments``,
``monitoring``); ``tesla.Project.connect(url, token=...)`` is the same session for a project behind a
``tesla server`` (``tesla.remote``). The function API of :mod:`tesla.api` is a thin façade over it. Both are
re-exported here lazily so that ``import tesla`` stays cheap (no pandas, sklearn or flaml).
"""

from __future__ import annotations

from typing import Any

from tesla._version import __version__

__all__ = [
    "Project",
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
    # lazy re-export: tesla.project and tesla.api pull in the config and store layers
    if name == "Project":
        from tesla.project import Project

        return Project
    if name in __all__ and name != "__version__":
        from tesla import api

        return getattr(api, name)
    raise AttributeError(f"module 'tesla' has no attribute {name!r}")
