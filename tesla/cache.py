"""Where Tesla keeps answers it can always compute again: ``$TESLA_CACHE_DIR``, else ``$XDG_CACHE_HOME/tesla``
(``~/.cache/tesla``).

Each entry is keyed on everything its answer depends on and is replayed only while that holds: the CLI's
fixed answers (``tesla._entry``), composed configs (``tesla.config.compose``), skops' estimator list and the
types each skops archive holds (``tesla.models.formats``). Deleting the folder is always safe. Standard library
only: ``tesla --help`` imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The cache folder (not created here)."""
    root = os.environ.get("TESLA_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tesla"
    return Path(root)
