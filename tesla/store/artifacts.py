"""Content-addressed artifact store on any fsspec filesystem.

Every artifact (a file or a directory tree) is stored under ``objects/<sha[:2]>/<sha>/``
with a ``_COMPLETE`` marker written last. A read trusts an object only when the marker is
there, so a crash mid-write never leaves something a later read believes. On the local
filesystem the object is assembled in ``tmp/`` and renamed into place (atomic).

The sha of a file is the sha256 of its bytes; the sha of a directory is the sha256 of the
sorted list of ``relative/path\\0file-sha`` lines, so equal trees hash equally wherever they
were written. A directory object also keeps that list, as ``_FILES`` beside its tree: the list
hashes to the object's sha (which the metadata rows record), so ``verify`` can name the one
file that was changed, added or removed after the object was stored, and an edited list
betrays itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tesla.errors import DataNotFoundError, DependencyError, IntegrityError
from tesla.store.faults import fault_point

__all__ = ["ArtifactStore", "hash_path"]

_MARKER = "_COMPLETE"
_FILE_NAME = "data"  # a single-file artifact is stored as <object>/data
_TREE = "tree"  # a directory artifact is stored as <object>/tree ...
_FILE_LIST = "_FILES"  # ... with its hash lines (the preimage of its sha) in <object>/_FILES
_CHUNK = 1 << 20
_REMOTE_PACKAGES = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}


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
    return hashlib.sha256(_tree_lines(path).encode()).hexdigest()


def _tree_lines(path: Path) -> str:
    """``relative/path\\0file-sha`` per file, sorted by path parts: what a directory's sha hashes."""
    return "\n".join(f"{child.relative_to(path).as_posix()}\0{_hash_file(child)}"
                     for child in sorted(p for p in path.rglob("*") if p.is_file()))


def _walk(tree: Path) -> tuple[dict[str, Path], tuple[str, str] | None]:
    """Every file under ``tree`` by relative path (links not followed), and the first link or special
    file found as (what is wrong, its relative path), or None."""
    files: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in sorted([*dirnames, *filenames]):
            entry = Path(dirpath) / name
            rel = entry.relative_to(tree).as_posix()
            if entry.is_symlink():
                return files, (f"'{rel}' is a symbolic link (to '{os.readlink(entry)}'); it must be a plain file", rel)
            if not (entry.is_dir() or entry.is_file()):
                return files, (f"'{rel}' is not a plain file", rel)
            if entry.is_file():
                files[rel] = entry
    return files, None


def _endpoint_options(root: str) -> dict[str, str]:
    """The endpoint the environment points a bucket URL at, as an fsspec option.

    s3fs and gcsfs read it from the environment themselves, but fsspec caches a filesystem by its
    options: without the endpoint among them, a process whose ``AWS_ENDPOINT_URL`` (or
    ``STORAGE_EMULATOR_HOST``) changed kept talking to the old endpoint.
    """
    scheme = root.split("://", 1)[0] if "://" in root else ""
    if scheme in ("s3", "s3a"):
        url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    elif scheme in ("gs", "gcs"):
        url = os.environ.get("STORAGE_EMULATOR_HOST")
    else:
        url = None
    return {"endpoint_url": url} if url else {}


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

        try:
            fs, _, paths = fsspec.get_fs_token_paths(self.root, storage_options=_endpoint_options(self.root))
        except ImportError as exc:  # fsspec knows the scheme, its package is missing
            scheme = self.root.split("://", 1)[0]
            package, extra = _REMOTE_PACKAGES.get(scheme, (f"the fsspec filesystem for '{scheme}'", None))
            fix = f"pip install 'tesla-ml[{extra}]'" if extra else f"install {package}"
            raise DependencyError(f"TESLA_ARTIFACTS={self.root} needs {package}: {fix}",
                                  key="TESLA_ARTIFACTS") from exc
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
        return single if entries == [_FILE_NAME] and single.is_file() else obj / _TREE

    def verify(self, sha: str, *, label: str | None = None, hint: str = "restore it or store it again") -> Path:
        """``path(sha)``, after checking that every byte is what was stored under ``sha``.

        Args:
            sha: the object's content hash, as a metadata row recorded it.
            label: what the object is, for the message (default: ``artifact <sha[:12]>``).
            hint: how to fix a refused object, for the message.

        Returns:
            The local path to the file or directory tree.

        Raises:
            IntegrityError: a file was changed, added or removed since the object was stored, is a
                link or a special file, or the object's hash list was edited; ``key`` names the file.
        """
        path = self.path(sha)
        label = label or f"artifact {sha[:12]}"
        problem = _tree_problem(path, sha) if path.name == _TREE else _file_problem(path, sha)
        if problem:
            what, key = problem
            raise IntegrityError(f"{label}: {what}; refusing to use it ({hint})", key=key)
        return path

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
        with self.new_file() as staged:
            if source.is_file():
                shutil.copyfile(source, staged)
            else:
                shutil.copytree(source, staged.parent / _TREE)
                (staged.parent / _FILE_LIST).write_text(_tree_lines(staged.parent / _TREE))
            self.publish(staged, sha)
        return sha

    @contextmanager
    def new_file(self) -> Iterator[Path]:
        """A path in the store's staging area to write one file at, removed on leaving unless published.

        Written in place there, a large file (a dataset converted while it is read) is never copied:
        ``publish(path, sha)`` moves it into the store under the sha its writer computed.
        """
        staging = self._staging_dir()
        try:
            yield staging / _FILE_NAME
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def publish(self, staged: Path, sha: str) -> str:
        """Store the file written at ``staged`` (from ``new_file``) as the object ``sha``; a no-op if it exists.

        The caller vouches that ``sha`` is the sha256 of the bytes (it hashed them as it wrote
        them); ``verify`` checks that claim whenever the object is used.
        """
        if self.exists(sha):
            return sha
        (staged.parent / _MARKER).write_text(sha)
        fault_point("artifact.staged")
        self._publish(staged.parent, sha)
        return sha

    def _staging_dir(self) -> Path:
        base = (self._root_path if self._local else self._cache_dir) / "tmp"  # type: ignore[operator]
        staging = base / f"{os.getpid()}-{uuid.uuid4().hex}"  # the writer's pid: see remove_abandoned
        staging.mkdir(parents=True)
        return staging

    def remove(self, sha: str) -> int:
        """Delete a stored object (``tesla data gc``); returns the bytes freed. Its marker goes first, so a
        reader sees the object missing, never half there."""
        if not self.exists(sha):
            return 0
        if self._local:
            import shutil

            obj = self._root_path / self._object_rel(sha)
            size = sum(p.stat().st_size for p in obj.rglob("*") if p.is_file())
            (obj / _MARKER).unlink()
            shutil.rmtree(obj)
            return size
        fs, base = self._fs()
        obj = f"{base}/{self._object_rel(sha)}"
        size = int(fs.du(obj))
        fs.rm(f"{obj}/{_MARKER}")
        fs.rm(obj, recursive=True)
        return size

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


def _file_problem(path: Path, sha: str) -> tuple[str, str] | None:
    if path.is_symlink() or not path.is_file():
        return f"'{path.name}' is not a plain file", path.name
    if _hash_file(path) != sha:
        return "its bytes were changed after it was stored (their sha256 no longer matches)", path.name
    return None


def _tree_problem(tree: Path, sha: str) -> tuple[str, str] | None:
    """(what is wrong, the file inside the tree) for the first difference from what was stored, or None."""
    if tree.is_symlink() or not tree.is_dir():
        return "its tree is a link or missing", _TREE
    found, problem = _walk(tree)
    if problem:
        return problem
    listing = tree.parent / _FILE_LIST
    if not listing.exists():  # stored before objects kept their hash list: the tree's hash alone decides
        if hash_path(tree) == sha:
            return None
        return "its files were changed after it was stored (the tree's sha256 no longer matches)", _TREE
    text = b"" if listing.is_symlink() else listing.read_bytes()
    if hashlib.sha256(text).hexdigest() != sha:
        return f"its hash list {_FILE_LIST} was edited (it no longer hashes to the recorded sha256)", _FILE_LIST
    recorded = dict(line.split("\0", 1) for line in text.decode().split("\n") if line)
    removed, added = sorted(recorded.keys() - found.keys()), sorted(found.keys() - recorded.keys())
    if removed:
        return f"'{removed[0]}' was removed after it was stored", removed[0]
    if added:
        return f"'{added[0]}' was added after it was stored", added[0]
    changed = [rel for rel, file in sorted(found.items()) if _hash_file(file) != recorded[rel]]
    if changed:
        return f"'{changed[0]}' was changed after it was stored (its sha256 no longer matches the recorded one)", changed[0]
    return None


def _replace_dir(staging: Path, target: Path) -> None:
    try:
        os.rename(staging, target)
    except OSError:
        if (target / _MARKER).exists():  # another writer published the same content first
            return
        shutil.rmtree(target, ignore_errors=True)  # a crashed earlier write: no marker, not trusted
        os.rename(staging, target)
