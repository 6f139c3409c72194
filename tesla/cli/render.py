"""Rendering for the CLI: plans, tables and live progress (rich on a terminal, plain lines otherwise)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tesla.execution import Event
from tesla.plan import Plan

__all__ = ["IngestRenderer", "ProgressRenderer", "console", "cost_table", "err_console", "in_notebook", "plan_markdown",
           "plan_text", "table"]

def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # piped output is read by people and scripts alike: do not wrap tables at 80 columns
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


console = _console(stderr=False)
err_console = _console(stderr=True)


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def _params_line(params: Mapping[str, Any]) -> str:
    shown = [f"{k}={_short(v, 30)}" for k, v in sorted(params.items()) if v not in (None, [], {}, "")]
    return " ".join(shown)


def plan_text(plan: Plan, status: Mapping[str, str]) -> str:
    """The plan as readable text (rich markup): one block per step with its inputs and params."""
    meta = " · ".join(f"{k} {v}" for k, v in sorted(plan.meta.items()))
    lines = [f"[bold]plan {plan.name}[/] · fingerprint {plan.fingerprint[:12]} · backend {plan.backend.get('name')}",
             meta, ""]
    for i, step in enumerate(plan.ordered(), 1):
        state = status.get(step.id, "")
        style = "green" if state == "cached" else "yellow"
        inputs = ", ".join(f"{k} ← {r.step}.{r.output}" if r.step else f"{k} ← sha256:{r.sha256[:12]}"
                           for k, r in sorted(step.inputs.items()))
        where = " (control)" if step.placement == "control" else ""
        lines.append(f"{i:>2}. [bold]{step.id:<9}[/] [{style}]{state:<9}[/] {step.fingerprint[:12]}  {inputs}{where}")
        lines.append(f"      {escape(_params_line(step.params))}")
    return "\n".join(lines)


def plan_markdown(plan: Plan, status: Mapping[str, str]) -> str:
    """The plan as a Markdown table, for pull-request comments and CI summaries."""
    lines = [f"### Tesla plan `{plan.name}`", "",
             f"fingerprint `{plan.fingerprint[:12]}` · backend `{plan.backend.get('name')}` · "
             + " · ".join(f"{k} `{v}`" for k, v in sorted(plan.meta.items())), "",
             "| # | step | kind | status | fingerprint | params |", "|---|---|---|---|---|---|"]
    for i, step in enumerate(plan.ordered(), 1):
        params = _params_line(step.params).replace("|", "\\|")
        lines.append(f"| {i} | {step.id} | {step.kind} | {status.get(step.id, '')} | `{step.fingerprint[:12]}` | {params} |")
    return "\n".join(lines) + "\n"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*[_cell(row.get(c)) for c in columns])
    return t


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def in_notebook() -> bool:
    """Whether a Jupyter kernel runs this process: its output is a cell, where a redrawn line shows as raw
    escape codes, whatever ``isatty`` says (some kernels answer True)."""
    ipython = sys.modules.get("IPython")  # never imported here: only a process IPython runs has it
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _notebook_bar(total: int | None) -> Any:
    """A tqdm.auto bar (a Jupyter widget) when tqdm and ipywidgets are installed, else None: plain lines then."""
    try:  # optional, both: Tesla depends on neither
        import ipywidgets  # noqa: F401  # without it tqdm.auto falls back to redrawing "\r" lines in the cell
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="search", unit="trial", leave=False)


class ProgressRenderer:
    """Turns run events into output: a rich progress bar on a terminal, in Jupyter a tqdm.auto bar (when tqdm
    is installed), plain lines otherwise. ``project.training.train(..., on_event=ProgressRenderer())`` shows
    a notebook the CLI's progress."""

    def __init__(self, stream_is_tty: bool | None = None) -> None:
        self.notebook = in_notebook()
        self.tty = (sys.stderr.isatty() if stream_is_tty is None else stream_is_tty) and not self.notebook
        self._progress: Any = None
        self._tqdm: Any = None
        self._task: Any = None
        self._last_plain = 0.0
        self.started = time.monotonic()

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler:
            handler(event)

    def _say(self, text: str) -> None:
        err_console.print(text)

    def _on_step_cached(self, e: Event) -> None:
        self._say(f"  [green]✓[/] {e.step:<9} cached (fingerprint unchanged since run {e.data['from_run']})")

    def _on_step_started(self, e: Event) -> None:
        self._say(f"  • {e.step:<9} running ({e.data.get('reason', '')})")

    def _on_step_progress(self, e: Event) -> None:
        d = e.data
        if "trials" not in d:
            return
        if self.tty and os.environ.get("TERM") != "dumb":
            self._bar(d)
        elif self.notebook and self._notebook_bar(d):
            return
        elif d["trials"] == d["total"] or time.monotonic() - self._last_plain > 2:
            self._last_plain = time.monotonic()
            of = f"/{d['total']}" if d["total"] is not None else ""  # None: a time budget, no trial cap
            self._say(f"    trial {d['trials']}{of}  best loss {d['best_loss']:.5f}  ({d['estimator']})")

    def _bar(self, d: Mapping[str, Any]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if self._progress is None:
            self._progress = Progress(TextColumn("    search"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("best loss {task.fields[best]}"), TimeRemainingColumn(),
                                      console=err_console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("search", total=d["total"], best="-")
        self._progress.update(self._task, completed=d["trials"], best=f"{d['best_loss']:.5f}")

    def _notebook_bar(self, d: Mapping[str, Any]) -> bool:
        if self._tqdm is None:
            self._tqdm = _notebook_bar(d["total"])
            if self._tqdm is None:
                self.notebook = False  # no tqdm: plain lines from now on
                return False
        self._tqdm.update(d["trials"] - self._tqdm.n)
        self._tqdm.set_postfix_str(f"best loss {d['best_loss']:.5f} ({d['estimator']})", refresh=False)
        return True

    def _close_bar(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def _on_step_finished(self, e: Event) -> None:
        self._close_bar()
        self._say(f"  [green]✓[/] {e.step:<9} done in {e.data['seconds']:.1f} s")

    def _on_step_failed(self, e: Event) -> None:
        self._close_bar()
        self._say(f"  [red]✗[/] {e.step:<9} failed")


def cost_table(cost: Mapping[str, Any]) -> Table:
    """A cost estimate (``CostEstimate.to_dict()``) as a table with its total in the title."""
    rows = [{**line, "hours": f"{line['hours']:g}", "usd": "no price" if line["usd"] is None else f"{line['usd']:.2f}"}
            for line in cost["lines"]]
    points = f" x {cost['points']} sweep points" if cost.get("points", 1) > 1 else ""
    unpriced = f"; no price for {', '.join(cost['unpriced'])}" if cost.get("unpriced") else ""
    title = f"cost estimate: at most ${cost['usd']:.2f}{points} ({cost.get('basis', '')}){unpriced}"
    return table(rows, ["step", "resource", "count", "hours", "usd_per_hour", "usd", "note"], title=title)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class IngestRenderer:
    """``tesla load``'s events: message lines, and a progress line (bytes, rows, ETA) on a terminal.

    Used as a context manager, so the progress line is cleared before whatever follows it; piped
    output gets the message lines only (a log is no place for a bar redrawn sixty times).
    """

    def __init__(self, stream_is_tty: bool | None = None) -> None:
        self.tty = ((sys.stderr.isatty() if stream_is_tty is None else stream_is_tty)
                    and os.environ.get("TERM") != "dumb" and not in_notebook())  # a cell shows "\r" and ESC raw
        self.started = time.monotonic()
        self._drawn = False

    def __enter__(self) -> IngestRenderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._clear()

    def __call__(self, event: Event) -> None:
        if event.kind == "message":
            self._clear()
            err_console.print(f"  • {event.data['text']}", markup=False)
        elif event.kind == "ingest_progress" and self.tty:
            sys.stderr.write("\r" + self.line(event.data) + "\x1b[K")
            sys.stderr.flush()
            self._drawn = True

    def line(self, d: Mapping[str, Any]) -> str:
        """``  312.0 MB / 1.0 GB (31%)  1.7 M rows  ETA 12 s``: what the progress line says."""
        done, total, rows = d["bytes"], d["total_bytes"], d["rows"]
        elapsed = time.monotonic() - self.started
        text = f"  {_size(done)}" + (f" / {_size(total)} ({100 * done // total}%)" if total else "")
        text += f"  {rows / 1e6:.1f} M rows" if rows >= 1e6 else f"  {rows} rows"
        if total and done and elapsed > 0:
            text += f"  ETA {max(0.0, elapsed * (total - done) / done):.0f} s"
        return text

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False
