"""Shared fixtures. Every test is offline and hermetic: fake cloud credentials, metadata
probes disabled, no colour, and Hydra's global state cleared after each test."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tesla.store import Store

# set before any SDK import: nothing may try to reach a non-loopback address
os.environ.update(
    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", NO_GCE_CHECK="true",
    NO_COLOR="1", TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", COLUMNS="200",
)
for var in ("TESLA_DB_URL", "TESLA_ARTIFACTS", "TESLA_FULL_ERROR", "GOOGLE_APPLICATION_CREDENTIALS"):
    os.environ.pop(var, None)

TESLA = str(Path(sys.executable).with_name("tesla"))


@pytest.fixture(autouse=True)
def _reset_hydra() -> Iterator[None]:
    yield
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something is already listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def run_tesla(*args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real `tesla` executable; on an unexpected exit code, fail showing its output."""
    proc = subprocess.run([TESLA, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        pytest.fail(f"tesla {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def stand_in_bundle(store: Store, directory: Path) -> str:
    """The sha256 of a stand-in model bundle put in ``store``'s artifacts: the registry reads the bundle it
    registers (its content identity), so a registered sha must name a stored one."""
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text("{}")
    return store.artifacts.put(directory)


def store_snapshot(project: Path) -> tuple[dict[str, int], str]:
    """Row counts of every store table and a digest of the artifact list: equal before and after
    a refused command means the command left stored data untouched (a store created empty,
    as the first command in a new project does, counts as untouched)."""
    state = project / ".tesla"
    counts: dict[str, int] = {}
    if (state / "tesla.db").exists():
        with sqlite3.connect(state / "tesla.db") as db:
            # alembic_version is the schema's revision, written when the store is created: not stored data
            tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")
                      if r[0] != "alembic_version"]
            counts = {t: n for t in tables
                      if (n := db.execute(f"select count(*) from {t}").fetchone()[0])}  # noqa: S608
    objects = sorted(p.name for p in (state / "artifacts" / "objects").glob("*/*")) if state.exists() else []
    return counts, hashlib.sha256("\n".join(objects).encode()).hexdigest()


@pytest.fixture(scope="session")
def datasets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV files of the offline datasets: bc (binary), iris (multiclass), diabetes (regression), churn (mixed)."""
    from tesla.testing import datasets

    root = tmp_path_factory.mktemp("datasets")
    bc = datasets.breast_cancer()
    bc.sample(frac=0.8, random_state=0).to_csv(root / "bc_train.csv", index=False)
    bc.drop(bc.sample(frac=0.8, random_state=0).index).to_csv(root / "bc_test.csv", index=False)
    bc.to_csv(root / "bc.csv", index=False)
    datasets.iris().to_csv(root / "iris.csv", index=False)
    datasets.diabetes().to_csv(root / "diabetes.csv", index=False)
    churn = datasets.churn(800)
    churn.to_csv(root / "churn.csv", index=False)
    churn.head(200).to_csv(root / "churn_test.csv", index=False)
    return root


def project_store(root: Path) -> Store:
    """The store of the project at ``root``, scaffolded first (tesla init) when there is none:
    ``Store.open`` refuses a directory in no project."""
    from tesla import api
    from tesla.store import Store, is_project

    return Store.open(root if is_project(root) else api.init_project(root))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh project (tesla init) with nothing loaded."""
    from tesla import api

    return api.init_project(tmp_path / "proj")


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    """A project with bc loaded and model 'bc_model' trained (5 trials). Treat as read-only."""
    from tesla import api

    root = api.init_project(tmp_path_factory.mktemp("trained") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    api.train("bc_model", max_iter=5, project_dir=root)
    return root


# -- PostgreSQL: a real server for the store suite (tests/store runs on SQLite and on it) ------------------------
def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def apt_install(package: str, present: Callable[[], bool]) -> str | None:
    """Install Debian's ``package`` unless ``present()``, when we may (root, apt-get); why it failed, or None.

    Under a lock: the suite's two workers may both find it missing, and apt-get refuses a second
    concurrent run (dpkg's lock).
    """
    import fcntl
    import shutil

    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{package} is not installed (apt-get install {package} needs root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open("/tmp/tesla-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if present():  # the other worker installed it while this one waited
            return None
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0:
                return f"'{' '.join(cmd)}' failed: {proc.stderr.strip()[-300:]}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of our own on 127.0.0.1 (user ``tesla``, trust auth), stopped by its PID at the end.

    Installed from Debian's packages when missing (CI runs as root); the cluster lives in a temporary
    directory owned by the ``postgres`` user when we are root (PostgreSQL refuses to run as root).
    """
    import shutil
    import signal
    import tempfile
    import time

    if _postgres_bindir() is None and (why := apt_install("postgresql", lambda: _postgres_bindir() is not None)):
        pytest.skip(f"no PostgreSQL for the store suite: {why}")
    bindir = _postgres_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="tesla-pg-"))  # not under pytest's 0700 tmp: the server's user reads it
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = "postgres" if any(u.pw_name == "postgres" for u in pwd.getpwall()) else "nobody"
        shutil.chown(root, user)
        as_user = ["runuser", "-u", user, "--"]
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "tesla", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)
    port = _free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 - open for the server's whole life
    server = subprocess.Popen([*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
                               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=400"],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"postgresql://tesla@127.0.0.1:{port}"
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(f"{url}/postgres", connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"PostgreSQL did not start:\n{(root / 'server.log').read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        pid_file = data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else server.pid
        try:
            os.kill(pid, signal.SIGINT)  # "fast" shutdown of the postmaster we started
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def new_postgres_database(server_url: str) -> str:
    """A new, empty database on the server: its SQLAlchemy URL."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"
