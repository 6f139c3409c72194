"""What a stored tree *means*, hashed: two bundles of the same model get one identity.

An artifact's sha (``hash_path``) hashes bytes, and the bytes of a model differ from run to run
when nothing about the model does: a skops archive is a zip whose entries carry the time they were
written, and whose member names and ``__id__`` fields are the ``id()`` of each object at save time
(a bytearray's member, an XGBoost booster's, is named by a fresh uuid4).
``content_identity`` hashes a canonical form instead: every file by its bytes, except zip archives,
hashed by their members (names and contents, not times), with skops' object ids renumbered in the
order the archive's ``schema.json`` first names them. The registry recognises an identical model by
this identity (``Store.register_model``), so training the same model twice registers one version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["content_identity"]

_SKOPS_SCHEMA = "schema.json"
# skops names an array's member after the array's id(), and a bytearray's (an XGBoost booster's) after a uuid4
_ID_FILE = re.compile(r"^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\.\w+)$")


def content_identity(path: str | os.PathLike[str]) -> str:
    """sha256 of the canonical form of a file or directory tree (see the module docstring)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    lines = [f"{file.relative_to(path).as_posix() if file != path else ''}\0{_file_identity(file)}"
             for file in files]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _file_identity(file: Path) -> str:
    if zipfile.is_zipfile(file):
        try:
            return _zip_identity(file)
        except (zipfile.BadZipFile, ValueError, KeyError, UnicodeDecodeError):
            pass  # not an archive we can read member by member: its bytes are its identity
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _zip_identity(file: Path) -> str:
    with zipfile.ZipFile(file) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    renumber: dict[str, str] = {}
    if _SKOPS_SCHEMA in members:
        schema = _renumbered(json.loads(members.pop(_SKOPS_SCHEMA)), renumber)
        members[_SKOPS_SCHEMA] = json.dumps(schema, sort_keys=True).encode()
    lines = []
    for name, data in members.items():
        match = _ID_FILE.match(name)
        canonical = f"{renumber.get(match.group(1), match.group(1))}{match.group(2)}" if match else name
        lines.append(f"{canonical}\0{hashlib.sha256(data).hexdigest()}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def _renumbered(node: Any, ids: dict[str, str]) -> Any:
    """``node`` with every ``__id__`` and member file name renumbered in first-seen order."""
    if isinstance(node, list):
        return [_renumbered(item, ids) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int):
            value = int(ids.setdefault(str(value), str(len(ids))))
        elif key == "file" and isinstance(value, str) and (match := _ID_FILE.match(value)):
            value = f"{ids.setdefault(match.group(1), str(len(ids)))}{match.group(2)}"
        else:
            value = _renumbered(value, ids)
        out[key] = value
    return out
