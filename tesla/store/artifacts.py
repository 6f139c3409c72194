"""Content-addressed artifact store on any fsspec filesystem.

Every artifact (a file or a directory tree) is stored under ``objects/<sha[:2]>/<sha>/``
with a ``_COMPLETE`` marker written last. A read trusts an object only when the marker is
there, so a crash mid-write never leaves something a later read believes. On the local
filesystem the object is assembled in ``tmp/`` and renamed into place (atomic).

The sha of a file is the sha256 of its bytes; the sha of a directory is the sha256 of the
sorted list of ``relative/path\\0file-sha`` lines, so equal trees hash equally wherever they
were written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from tesla.errors import DataNotFoundError
from tesla.store.faults import fault_point

__all__ = ["ArtifactStore", "hash_path"]

_MARKER = "_COMPLETE"
_FILE_NAME = "data"  # a single-file artifact is stored as <object>/data
_CHUNK = 1 << 20


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_path(path: str | os.PathLike[str]) -> str:
    """Content hash of a file, or of a directory tree (names and bytes, not times)."""
    path = Path(path)
    if path.is_file():
        return _hash_file(path)
    if not path.is_dir():
        raise DataNotFoundError(f"cannot hash '{path}': no such file or directory", key=str(path))
    lines = []
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        lines.append(f"{child.relative_to(path).as_posix()}\0{_hash_file(child)}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class ArtifactStore:
    """Content-addressed storage of files and directories under an fsspec root.

    Args:
        root: a local path or an fsspec URL (``s3://bucket/prefix``, ``gs://...``).
        cache_dir: where remote objects are downloaded for reading (local roots read in place).
    """

    def __init__(self, root: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.root = str(root)
        self._local = "://" not in self.root or self.root.startswith("file://")
        if self._local:
            self._root_path = Path(self.root.removeprefix("file://"))
            self._root_path.mkdir(parents=True, exist_ok=True)
        self._cache_dir = Path(cache_dir) if cache_dir else None

    # -- layout -------------------------------------------------------------
    def _object_rel(self, sha: str) -> str:
        return f"objects/{sha[:2]}/{sha}"

    def _fs(self):  # noqa: ANN202 - fsspec has no public filesystem base type we want to leak
        # lazy import: fsspec (and its s3/gcs plugins) are only needed for remote roots
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(self.root)
        return fs, paths[0].rstrip("/")

    # -- queries ------------------------------------------------------------
    def exists(self, sha: str) -> bool:
        """Whether a complete object with this sha is stored."""
        if self._local:
            return (self._root_path / self._object_rel(sha) / _MARKER).exists()
        fs, base = self._fs()
        return fs.exists(f"{base}/{self._object_rel(sha)}/{_MARKER}")

    def path(self, sha: str) -> Path:
        """A local path to the artifact: the file itself, or the directory tree."""
        if not self.exists(sha):
            raise DataNotFoundError(
                f"artifact {sha[:12]} is missing from the store at '{self.root}'; "
                "re-run the step that made it with --force", key=sha)
        obj = self._local_object(sha)
        single = obj / _FILE_NAME
        entries = [p.name for p in obj.iterdir() if p.name != _MARKER]
        return single if entries == [_FILE_NAME] and single.is_file() else obj / "tree"

    def _local_object(self, sha: str) -> Path:
        if self._local:
            return self._root_path / self._object_rel(sha)
        assert self._cache_dir is not None, "a remote artifact root needs a cache_dir"
        target = self._cache_dir / sha
        if not (target / _MARKER).exists():
            fs, base = self._fs()
            tmp = self._cache_dir / f".tmp-{uuid.uuid4().hex}"
            fs.get(f"{base}/{self._object_rel(sha)}/", str(tmp), recursive=True)
            (tmp / _MARKER).touch()
            _replace_dir(tmp, target)
        return target

    # -- writes -------------------------------------------------------------
    def put(self, source: str | os.PathLike[str]) -> str:
        """Store a file or directory (copied) and return its sha; storing twice is a no-op."""
        source = Path(source)
        sha = hash_path(source)
        if self.exists(sha):
            return sha
        staging = self._staging_dir()
        try:
            if source.is_file():
                shutil.copyfile(source, staging / _FILE_NAME)
            else:
                shutil.copytree(source, staging / "tree")
            (staging / _MARKER).write_text(sha)
            fault_point("artifact.staged")
            self._publish(staging, sha)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return sha

    def _staging_dir(self) -> Path:
        base = (self._root_path if self._local else self._cache_dir) / "tmp"  # type: ignore[operator]
        staging = base / f"{os.getpid()}-{uuid.uuid4().hex}"  # the writer's pid: see remove_abandoned
        staging.mkdir(parents=True)
        return staging

    def remove_abandoned(self, alive: Callable[[int], bool]) -> None:
        """Remove the staging directories (``tmp/<pid>-<uuid>``) of writers that died mid-put."""
        root = self._root_path if self._local else self._cache_dir
        base = root / "tmp" if root is not None else None
        for path in sorted(base.iterdir()) if base is not None and base.is_dir() else []:
            pid, _, _ = path.name.partition("-")
            if pid.isdigit() and not alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)

    def _publish(self, staging: Path, sha: str) -> None:
        if self._local:
            target = self._root_path / self._object_rel(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace_dir(staging, target)
            return
        fs, base = self._fs()
        dest = f"{base}/{self._object_rel(sha)}"
        for file in sorted(p for p in staging.rglob("*") if p.is_file() and p.name != _MARKER):
            fs.put_file(str(file), f"{dest}/{file.relative_to(staging).as_posix()}")
        # the marker goes last: a reader never trusts a partly uploaded object
        fs.put_file(str(staging / _MARKER), f"{dest}/{_MARKER}")


def _replace_dir(staging: Path, target: Path) -> None:
    try:
        os.rename(staging, target)
    except OSError:
        if (target / _MARKER).exists():  # another writer published the same content first
            return
        shutil.rmtree(target, ignore_errors=True)  # a crashed earlier write: no marker, not trusted
        os.rename(staging, target)
