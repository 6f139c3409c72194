"""The ``tesla`` executable: top-level help and the version answered before typer is imported.

``import typer`` alone takes ~0.2 s, longer than ``tesla --help`` may. The first time one of
``tesla``, ``tesla --help``, ``tesla -h`` or ``tesla --version`` runs, the typer app answers
and what it wrote (stdout, stderr, exit code) is saved; later runs replay it. The saved answer
is keyed on everything it depends on: Tesla's version, the size and mtime of every
``tesla/cli`` source file, the installed typer and click (their paths name the environment) and
the terminal width (click wraps help to it); any change and the app answers again. So the fast text
cannot drift from the app's (``tests/test_lean_start.py`` compares the two). Every other
command goes straight to ``tesla.cli.main``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]

# argv (after the program name) whose whole answer is a fixed text
FAST_ARGV = frozenset({(), ("--help",), ("-h",), ("--version",)})


class _Tee:
    """A stream that writes through to ``real`` and keeps a copy of the text (click may write bytes to its buffer)."""

    def __init__(self, real: Any, parts: list[str] | None = None) -> None:
        self._real, self.parts = real, [] if parts is None else parts

    def write(self, data: str | bytes) -> int:
        self.parts.append(data.decode(getattr(sys.stdout, "encoding", None) or "utf-8", "replace")
                          if isinstance(data, bytes) else data)
        return self._real.write(data)

    @property
    def buffer(self) -> _Tee:
        self._real.flush()  # keep text written before the bytes ahead of them
        return _Tee(self._real.buffer, self.parts)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, flush...: the real stream's
        return getattr(self._real, name)


def _key(argv: tuple[str, ...]) -> list[Any]:
    """What the answer to ``argv`` depends on."""
    import importlib.util
    import shutil

    from tesla._version import __version__

    cli = Path(__file__).with_name("cli")
    sources = sorted(cli.glob("*.py"))
    stats = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sources]  # lists: as JSON reads them back
    packages = []
    for name in ("typer", "click"):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin) if spec and spec.origin else None
        packages.append([name, str(origin), origin.stat().st_mtime_ns if origin and origin.exists() else None])
    return [list(argv), __version__, stats, packages, shutil.get_terminal_size().columns]


def _cache_file(argv: tuple[str, ...]) -> Path:
    from tesla.cache import cache_root

    name = "-".join(a.strip("-") for a in argv) or "bare"
    return cache_root() / f"cli-{name}.json"


def _replay(path: Path, key: list[Any]) -> bool:
    """Write the saved answer for ``key`` and exit; False when there is none."""
    import json

    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(saved, dict) or saved.get("key") != key:
        return False
    sys.stdout.write(saved["stdout"])
    sys.stderr.write(saved["stderr"])
    sys.stdout.flush()
    sys.exit(saved["code"])


def _answer_and_save(path: Path, key: list[Any]) -> None:
    """Let the typer app answer, then save what it wrote for next time."""
    import json

    from tesla.cli import main as cli_main

    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    code: Any = 0
    try:
        cli_main(list(key[0]))
    except SystemExit as exc:
        code = exc.code
        raise
    finally:
        sys.stdout, sys.stderr = out._real, err._real
        if code is None or isinstance(code, int):
            _save(path, {"key": key, "stdout": "".join(out.parts), "stderr": "".join(err.parts), "code": code or 0})


def _save(path: Path, answer: dict[str, Any]) -> None:
    import json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(answer))
        tmp.replace(path)  # atomic: a concurrent run reads the old answer or the whole new one
    except OSError:
        pass  # a read-only home: every run asks the app, nothing breaks


def main() -> None:
    """Entry point of the ``tesla`` executable (``[project.scripts]``)."""
    argv = tuple(sys.argv[1:])
    completing = any(k.startswith(("_TESLA_COMPLETE", "_TYPER_")) for k in os.environ)
    if argv in FAST_ARGV and not completing:
        path, key = _cache_file(argv), _key(argv)
        _replay(path, key)
        _answer_and_save(path, key)
        return
    from tesla.cli import main as cli_main

    cli_main()
