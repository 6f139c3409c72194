"""Reports that stay: each is stored as an artifact and copied to a unique, readable file name."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tesla.store import Store

__all__ = ["keep_report", "open_report", "report_copy"]


def _safe(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "report"


def report_copy(store: Store, sha: str, kind: str, stem: str) -> Path:
    """Copy the stored report ``sha`` to ``.tesla/reports/<kind>/<stem>-<sha8>.html`` and return it.

    The content hash makes the name unique: a later, different report never overwrites an earlier
    one, so every record that links a report keeps pointing at the report it made (a report with the
    same bytes is the same report). No clock in the name: the same evaluation names the same file.
    """
    path = store.state_dir / "reports" / kind / f"{_safe(stem)}-{sha[:8]}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(store.artifacts.path(sha).read_bytes())
    return path


def keep_report(store: Store, text: str, kind: str, stem: str) -> tuple[str, Path]:
    """Store the HTML ``text`` as an artifact and copy it to a unique name (``report_copy``): (sha, path)."""
    with tempfile.TemporaryDirectory(dir=store.state_dir) as tmp:
        staged = Path(tmp) / "report.html"
        staged.write_text(text, encoding="utf-8")
        sha = store.artifacts.put(staged)
    return sha, report_copy(store, sha, kind, stem)


def open_report(path: Path) -> bool:
    """Open ``path`` in the default web browser; False when no browser could be started."""
    import webbrowser  # lazy: only --open needs it

    return webbrowser.open(Path(path).resolve().as_uri())
