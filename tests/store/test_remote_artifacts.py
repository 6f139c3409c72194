"""Artifacts on S3 (moto's server) and GCS (gcp-storage-emulator), both on loopback, through fsspec."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tesla.errors import DataNotFoundError
from tesla.store import ArtifactStore, hash_path
from tests.conftest import _free_port

SQLITE_ONLY = "the artifact store does not touch the metadata database"


def _serve(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    import socket

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"{cmd[0]} did not listen on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # by the PID we started
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def s3_root() -> Iterator[str]:
    port = _free_port()
    proc = _serve([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)], port)
    old = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    try:
        import boto3

        boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="team")
        yield "s3://team/tesla"
    finally:
        os.environ.pop("AWS_ENDPOINT_URL") if old is None else os.environ.__setitem__("AWS_ENDPOINT_URL", old)
        _stop(proc)


@pytest.fixture(scope="module")
def gcs_root() -> Iterator[str]:
    port = _free_port()
    exe = str(Path(sys.executable).with_name("gcp-storage-emulator"))
    proc = _serve([exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
                   "--default-bucket", "team"], port)
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    try:
        yield "gs://team/tesla"
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST") if old is None else os.environ.__setitem__("STORAGE_EMULATOR_HOST", old)
        _stop(proc)


@pytest.fixture(params=["s3", "gcs"])
def remote_root(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_root")


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "manifest.json").write_text('{"a": 1}\n')
    (root / "sub" / "weights.bin").write_bytes(os.urandom(2048))
    return root


def test_a_tree_round_trips_and_is_stored_once(remote_root: str, tmp_path: Path) -> None:
    store = ArtifactStore(f"{remote_root}/{tmp_path.name}", cache_dir=tmp_path / "cache")
    tree = _tree(tmp_path / "tree")
    sha = store.put(tree)
    assert sha == hash_path(tree) and store.exists(sha)
    assert store.put(tree) == sha  # content-addressed: the second put writes nothing
    fresh = ArtifactStore(store.root, cache_dir=tmp_path / "cache2")  # another machine: reads it back
    got = fresh.verify(sha)
    assert (got / "sub" / "weights.bin").read_bytes() == (tree / "sub" / "weights.bin").read_bytes()
    single = tmp_path / "data.csv"
    single.write_text("x,y\n1,2\n")
    assert fresh.path(store.put(single)).read_text() == "x,y\n1,2\n"


def test_an_object_without_its_completion_marker_is_not_trusted(remote_root: str, tmp_path: Path) -> None:
    store = ArtifactStore(f"{remote_root}/{tmp_path.name}", cache_dir=tmp_path / "cache")
    tree = _tree(tmp_path / "tree")
    sha = hash_path(tree)
    fs, base = store._fs()
    fs.put_file(str(tree / "manifest.json"), f"{base}/objects/{sha[:2]}/{sha}/tree/manifest.json")  # a crash mid-put
    assert not store.exists(sha)
    with pytest.raises(DataNotFoundError, match="is missing from the store"):
        store.path(sha)
    assert store.put(tree) == sha and store.exists(sha)  # the next put completes it


def test_a_changed_endpoint_is_followed_not_the_cached_filesystem(s3_root: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """fsspec caches a filesystem by its options: a process whose AWS_ENDPOINT_URL changes (another server)
    must talk to the new endpoint, not keep the filesystem made for the old one."""
    import boto3

    root = f"{s3_root}/{tmp_path.name}"
    sha = ArtifactStore(root, cache_dir=tmp_path / "a").put(_tree(tmp_path / "tree"))
    port = _free_port()
    other = _serve([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)], port)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}").create_bucket(Bucket="team")
        assert not ArtifactStore(root, cache_dir=tmp_path / "b").exists(sha)  # the new server holds nothing
    finally:
        _stop(other)


def test_a_missing_filesystem_package_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tesla.errors import DependencyError

    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed
    import fsspec  # noqa: F401 - loads fsspec.registry

    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)  # nor its class loaded
    with pytest.raises(DependencyError, match=r"TESLA_ARTIFACTS=s3://b/p needs s3fs: pip install 'tesla-ml\[s3\]'"):
        ArtifactStore("s3://b/p", cache_dir=tmp_path).exists("ab" * 32)
    shutil.rmtree(tmp_path, ignore_errors=True)
