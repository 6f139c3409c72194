"""Loads that do not start from a local file: a SQL query, and URLs (http, s3 via moto, gs via the GCS emulator)."""

from __future__ import annotations

import functools
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tesla.errors import DataError, DataNotFoundError
from tesla.project import Project
from tests.conftest import run_tesla, store_snapshot

FRAME = pd.DataFrame({"x": [1, 2, 3, 4, 5], "c": ["a", "b", "a", "b", "a"], "y": [0, 1, 0, 1, 0]})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A plain http.server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    FRAME.to_csv(root / "d.csv", index=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as conn:
        FRAME.to_sql("rows", conn, index=False)
    return path


def test_a_sql_query_loads_as_a_version_with_the_csvs_content(project: Path, tmp_path: Path, database: Path) -> None:
    data = Project(project).data
    result = data.load(None, "q", sql="select * from rows", url=f"sqlite:///{database}", target="y")
    assert result.created and result.version.rows == 5
    assert result.version.source == f"sql:sqlite:///{database}: select * from rows"
    FRAME.to_csv(tmp_path / "same.csv", index=False)
    assert not data.load(tmp_path / "same.csv", "q").created  # the same rows are the same version


def test_the_cli_loads_a_query(project: Path, database: Path) -> None:
    out = run_tesla("load", "--sql", "select x, y from rows where x > 2", "--url", f"sqlite:///{database}",
                    "-o", "q", cwd=project).stdout
    assert "Loaded q@1: 3 rows, 2 columns" in out


@pytest.mark.parametrize("kw, error, message", [
    ({"sql": "select * from nope", "url": "sqlite:///DB"}, DataError,
     r"the query failed on sqlite:///.*x\.db: no such table: nope; query: select \* from nope"),
    ({"sql": "select 1", "url": "sqlite:///missing.db"}, DataNotFoundError,
     r"SQLite database 'missing\.db' \(--url sqlite:///missing\.db\) does not exist"),
    ({"sql": "select 1", "url": "nodb://u:secret@h/db"}, DataError,
     r"--url nodb://u:\*\*\*@h/db is not a database URL SQLAlchemy can open"),
    ({"sql": "select * from rows where 0", "url": "sqlite:///DB"}, DataError, r"has no rows"),
    ({"sql": "select 1"}, DataError, r"a SQL load takes --sql QUERY and --url DATABASE_URL together"),
], ids=["bad-query", "missing-sqlite", "bad-url-password-hidden", "no-rows", "no-url"])
def test_bad_queries_get_one_line_and_store_nothing(project: Path, database: Path, kw: dict[str, str],
                                                    error: type[Exception], message: str) -> None:
    kw = {k: v.replace("DB", str(database)) for k, v in kw.items()}
    before = store_snapshot(project)
    with pytest.raises(error, match=message):
        Project(project).data.load(None, "q", **kw)
    assert store_snapshot(project) == before
    assert not (Path.cwd() / "missing.db").exists()  # SQLAlchemy was not allowed to create it


def test_an_http_url_loads_and_a_missing_one_is_named(project: Path, served: str) -> None:
    data = Project(project).data
    result = data.load(f"{served}/d.csv", "web")
    assert result.version.rows == 5 and result.version.source == f"{served}/d.csv"
    with pytest.raises(DataNotFoundError, match=rf"nothing at {served}/gone\.csv; check the bucket and path"):
        data.load(f"{served}/gone.csv", "web")


def test_the_cli_keeps_the_double_slash_of_a_url(project: Path, served: str) -> None:
    out = run_tesla("load", "-d", f"{served}/d.csv", "-o", "web", cwd=project).stdout
    assert "Loaded web@1: 5 rows" in out


def test_an_unknown_protocol_is_one_line(project: Path) -> None:
    with pytest.raises(DataError, match=r"'nope://' in nope://b/d\.csv is not a protocol fsspec knows"):
        Project(project).data.load("nope://b/d.csv", "x")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with bucket 'data' holding d.csv; s3fs goes there."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="data")
    client.put_object(Bucket="data", Key="in/d.csv", Body=FRAME.to_csv(index=False).encode())
    yield "s3://data"
    server.stop()


def test_an_s3_url_loads_through_moto(project: Path, s3: str) -> None:
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()  # s3fs caches a filesystem per endpoint
    data = Project(project).data
    result = data.load(f"{s3}/in/d.csv", "bucket", target="y")
    assert result.version.rows == 5 and result.version.source == "s3://data/in/d.csv"
    with pytest.raises(DataNotFoundError, match=r"nothing at s3://data/in/nope\.csv"):
        data.load(f"{s3}/in/nope.csv", "bucket")


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """gcp-storage-emulator on 127.0.0.1 with bucket 'data' holding d.parquet; gcsfs goes there."""
    import socket

    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="data")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    client = storage.Client(project="test", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
    client.bucket("data").blob("d.parquet").upload_from_string(FRAME.to_parquet(index=False))
    yield "gs://data"
    server.stop()


def test_a_gs_url_loads_through_the_emulator(project: Path, gcs: str) -> None:
    import fsspec

    fsspec.filesystem("gs", token="anon").clear_instance_cache()
    result = Project(project).data.load(f"{gcs}/d.parquet", "gcs")
    assert result.version.rows == 5 and result.version.source == "gs://data/d.parquet"
