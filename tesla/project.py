"""The Project session: one project root, one store, the composed config and the five services.

``Project(path)`` finds the root of the project holding ``path`` (walking up, as git does; see
``tesla.store.find_project_root``), so a directory in no project is refused before anything is
read or written. The store is opened once, on first use, and shared by every service call made
through this project. The CLI, the REST server and notebooks all work through it::

    project = tesla.Project()
    project.data.load("data/iris.csv", "iris", target="target")
    result = project.training.train("iris-clf", max_iter=20)
    project.deployments.deploy(result.model.ref, "staging")
"""

from __future__ import annotations

import functools
import getpass
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla._version import __version__
from tesla.config import DEFAULT_CONF_DIR, check_config, compose
from tesla.config.compose import compose_plain
from tesla.errors import ProjectError
from tesla.execution import Backend, backend_spec
from tesla.services import (
    DataService,
    DeploymentService,
    EvaluationService,
    MonitoringService,
    TrainingService,
    UserService,
)
from tesla.services._common import PathLike, backend_schemas
from tesla.services.jobs import JobService
from tesla.store import Store, find_project_root, is_project

if TYPE_CHECKING:
    from tesla.remote import RemoteProject

__all__ = ["Project", "local_user", "scaffold"]

_GITIGNORE = ".tesla/\n__pycache__/\n*.pyc\n.venv/\n"
# The pull-request check. A fresh clone has no .tesla/ (git ignores it), so the job either reads the
# team store given by the repository's secrets, or, with none set (an empty value is no value),
# compiles against the data the config declares (data.source, a committed file) in a store made for
# the job. tesla-ml is pinned to the version that wrote this file: a step's fingerprint holds the
# Tesla version, so CI then computes the fingerprints a developer's machine does.
_WORKFLOW = """name: tesla
on: [pull_request]
jobs:
  review:
    runs-on: ubuntu-latest
    permissions: {contents: read, pull-requests: write}
    env:
      TESLA_DB_URL: ${{ secrets.TESLA_DB_URL }}
      TESLA_ARTIFACTS: ${{ secrets.TESLA_ARTIFACTS }}
      GH_TOKEN: ${{ github.token }}
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install "tesla-ml==%(version)s"
      - run: tesla plan --format md >> "$GITHUB_STEP_SUMMARY"
      - run: tesla review --base "origin/$GITHUB_BASE_REF" --format md > tesla-review.md
      - run: cat tesla-review.md >> "$GITHUB_STEP_SUMMARY"
      - run: gh pr comment "${{ github.event.pull_request.number }}" --body-file tesla-review.md
""" % {"version": __version__}


class Project:
    """A Tesla project: its root, its store, its config and the services that work on them.

    Args:
        path: any directory in the project (default: the working directory).
        user: who acts through this session; every dataset version, run, model version and deployment
            it writes records the name (``created_by``). Default: ``TESLA_USER``, else the OS user.
            The REST server passes the user of the request's API token.
        store: work on this already open store instead of the project's own (``tesla plan --diff``
            compiles a checkout of another git ref against the store of the working tree).

    Raises:
        ProjectNotFoundError: ``path`` is in no Tesla project.
    """

    def __init__(self, path: PathLike = ".", *, user: str | None = None, store: Store | None = None) -> None:
        self.root: Path = find_project_root(path)
        self.user: str | None = user or local_user()
        self._store: Store | None = store

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    def act_as(self, user: str) -> None:
        """Record this session's writes from now on as made by ``user`` (the server: the API token's user)."""
        self.user = user
        if self._store is not None:
            self._store.actor = user

    @staticmethod
    def connect(url: str, *, token: str | None = None) -> RemoteProject:
        """The project behind a ``tesla server`` at ``url``: the same services with the same arguments and
        result types, over HTTP (a ``tesla.remote.RemoteProject``; what ``tesla --remote URL`` uses).

        Args:
            url: the server, e.g. ``http://build-box:8765``.
            token: an API token (``tesla tokens create USER`` on the server's project).
        """
        from tesla.remote import RemoteProject  # lazy: httpx only for a remote session

        return RemoteProject(url, token=token)

    @classmethod
    def init(cls, path: PathLike) -> Project:
        """Scaffold a project at ``path`` (see ``scaffold``) and return it."""
        return cls(scaffold(path))

    @property
    def store(self) -> Store:
        """The project's store, opened on first use (its ``.tesla/`` is made then) and kept."""
        if self._store is None:
            self._store = Store.open(self.root)
            self._store.actor = self.user  # what it writes records who made it
        return self._store

    def config(self, overrides: Sequence[str] = ()) -> tuple[Any, dict[str, Any]]:
        """The composed config as (OmegaConf node, plain dict), checked in both phases."""
        from omegaconf import OmegaConf

        cfg = compose(list(overrides), project_dir=self.root, backend_schemas=backend_schemas())
        plain = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(plain, dict)
        check_config(plain)
        backend_spec(plain["backend"]["name"])  # raises with the installed backends listed
        return cfg, plain

    def plain_config(self, overrides: Sequence[str] = ()) -> dict[str, Any]:
        """``config(overrides)[1]``, the plain dict alone: replayed from the compose cache when nothing it
        depends on changed (``tesla.config.compose.compose_plain``), so Hydra is not even imported."""
        plain = compose_plain(list(overrides), project_dir=self.root, backend_schemas=backend_schemas())
        check_config(plain)
        backend_spec(plain["backend"]["name"])  # raises with the installed backends listed
        return plain

    def backend(self, plain: Mapping[str, Any]) -> Backend:
        """The backend a composed config names, working on this project's store."""
        spec = backend_spec(plain["backend"]["name"])
        return spec.load()(plain["backend"], self.store)

    # -- the five services ------------------------------------------------------------------------
    @functools.cached_property
    def data(self) -> DataService:
        return DataService(self)

    @functools.cached_property
    def training(self) -> TrainingService:
        return TrainingService(self)

    @functools.cached_property
    def evaluation(self) -> EvaluationService:
        return EvaluationService(self)

    @functools.cached_property
    def deployments(self) -> DeploymentService:
        return DeploymentService(self)

    @functools.cached_property
    def monitoring(self) -> MonitoringService:
        return MonitoringService(self)

    @functools.cached_property
    def jobs(self) -> JobService:
        """The long service calls run as persisted jobs in worker processes (what the REST server runs)."""
        return JobService(self)

    @functools.cached_property
    def users(self) -> UserService:
        """Who may use this project's REST server: users, roles, API tokens."""
        return UserService(self)


def local_user() -> str | None:
    """Who acts in a local session: ``TESLA_USER``, else the OS login name (``None`` if it has none)."""
    named = os.environ.get("TESLA_USER", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (some containers) and no LOGNAME/USER
        return None


def scaffold(path: PathLike) -> Path:
    """Scaffold a project: ``conf/`` (a copy of the defaults), ``data/``, ``.gitignore``, a CI workflow.

    ``path`` may be a new directory or an existing one that is not yet a project.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ProjectError: ``path`` is a file, lies under a file, cannot be created, or already holds a project.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ProjectError(f"'{root}' is a file; tesla init needs a directory (a new one, or an existing one "
                           "without a project)", key=str(root))
    if is_project(root):
        marker = "conf/config.yaml" if (root / "conf" / "config.yaml").is_file() else ".tesla/"
        raise ProjectError(f"'{root}' already holds a Tesla project ({marker} exists); use it as it is or "
                           "pick another directory", key=str(root))
    existing = next(p for p in root.absolute().parents if p.exists())
    if not existing.is_dir():
        raise ProjectError(f"cannot create '{root}': '{existing}' is a file, not a directory; pick another path",
                           key=str(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"cannot create '{root}': {exc.strerror or exc}; pick another path", key=str(root)) from exc
    shutil.copytree(DEFAULT_CONF_DIR, root / "conf", dirs_exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(_GITIGNORE)
    workflow = root / ".github" / "workflows" / "tesla.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(_WORKFLOW)
    return root
