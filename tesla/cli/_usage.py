"""The click exception classes, whichever click copy typer runs on.

typer >= 0.2x ships its own copy of click (``typer._click``) and raises that copy's
exceptions; older typer raises the real click's. ``main`` must catch both, or a newer typer
turns every usage error into a traceback with exit status 1.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["ABORT", "CLICK_ERRORS", "EXIT", "USAGE_ERRORS", "UsageError", "one_line", "shows_help"]


def _modules() -> list[ModuleType]:
    found: list[ModuleType] = []
    try:
        import typer._click.exceptions as vendored  # typer >= 0.2x: its own click

        found.append(vendored)
    except ImportError:
        pass
    try:
        import click.exceptions as real  # older typer, and anything raising the real click's errors

        found.append(real)
    except ImportError:
        pass
    return found


_MODS = _modules()
CLICK_ERRORS: tuple[type[Exception], ...] = tuple(m.ClickException for m in _MODS)
USAGE_ERRORS: tuple[type[Exception], ...] = tuple(m.UsageError for m in _MODS)


def _typer_class(name: str) -> list[type[BaseException]]:
    import typer

    found = getattr(typer, name, None)
    return [found] if isinstance(found, type) else []


# typer >= 0.2x defines Exit / Abort itself (typer.Exit); older typer re-exports click's
EXIT: tuple[type[BaseException], ...] = tuple(
    {*_typer_class("Exit"), *(m.Exit for m in _MODS if hasattr(m, "Exit"))})
ABORT: tuple[type[BaseException], ...] = tuple(
    {*_typer_class("Abort"), *(m.Abort for m in _MODS if hasattr(m, "Abort"))})
# raised by Tesla's own commands: the copy typer uses, so its parser reports it like its own
UsageError = _MODS[0].UsageError


def shows_help(exc: Exception) -> bool:
    """A bare group (``tesla``, ``tesla data``): click prints the help instead of an error."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def one_line(exc: Exception) -> str:
    """``Error: <message> (see 'tesla CMD --help')`` for a usage error; ``Error: <message>`` otherwise."""
    message = " ".join(str(getattr(exc, "format_message", lambda: str(exc))()).split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, USAGE_ERRORS):
        path = getattr(ctx, "command_path", None) or "tesla"
        return f"Error: {message} (see '{path} --help')"
    return f"Error: {message}"
