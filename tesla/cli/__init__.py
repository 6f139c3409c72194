"""The ``tesla`` command: parse arguments, call one ``tesla.Project`` service, render the result. Nothing else.

Errors map to exits in one place (``main``): a ``TeslaError`` prints ``Error: ...`` and exits
1; a usage error exits 2; an ``OSError`` about a path prints the path and exits 1; anything
else is a bug in Tesla and still gets one line and exit 1. A traceback only with
``TESLA_FULL_ERROR=1``. Heavy modules are imported inside commands so ``tesla --help`` stays fast.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tesla._version import __version__
from tesla.cli._usage import ABORT, CLICK_ERRORS, EXIT, UsageError, one_line, shows_help
from tesla.errors import TeslaError

__all__ = ["app", "main"]

app = typer.Typer(name="tesla", help="Build and deploy ML models from Hydra configs: compile a plan, run it anywhere.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})
data_app = typer.Typer(help="Dataset versions: list, log, show, diff, tag, export, rollback, gc, profile.",
                       no_args_is_help=True)
models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs of plans: list and show.", no_args_is_help=True)
deployments_app = typer.Typer(help="Model servers: list, status, logs and stop.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")
app.add_typer(deployments_app, name="deployments")
jobs_app = typer.Typer(help="Cloud jobs Tesla started: list, status, logs, cancel.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
monitor_app = typer.Typer(help="Check live traffic against the training data; exit 1 when a threshold is crossed.")
app.add_typer(monitor_app, name="monitor")
users_app = typer.Typer(help="Who may use this project's REST server (`tesla server`), and their roles: "
                        "read, write, admin.", no_args_is_help=True)
app.add_typer(users_app, name="users")
tokens_app = typer.Typer(help="API tokens of the users: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
store_app = typer.Typer(help="The project's store (metadata database and artifacts): schema upgrade.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")

Overrides = Annotated[Optional[list[str]], typer.Argument(help="Hydra overrides, key=value (e.g. search.metric=log_loss).",
                                                          show_default=False)]
ModelOpt = Annotated[str, typer.Option("-m", "--model", help="Model name; NAME@N picks version N.")]
ProjectOpt = Annotated[Path, typer.Option("--project", help="A directory in the project (default: the working "
                                          "directory); its root is found by walking up, as git does.",
                                          show_default=False)]


def _overrides(values: list[str] | None) -> list[str]:
    items = list(values or [])
    for item in items:
        if "=" not in item:
            raise UsageError(f"'{item}' is not an override; overrides are KEY=VALUE (e.g. search.metric=log_loss)")
    return items


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# the server named by --remote / TESLA_SERVER and the token of --token / TESLA_TOKEN, set by the root callback
# (and the root context, which closes the remote session's connections when the command ends)
_REMOTE: contextvars.ContextVar[tuple[str | None, str | None, Any]] = contextvars.ContextVar(
    "tesla_remote", default=(None, None, None))


def _session(project: Path) -> Any:
    """The session a command calls: the project holding ``project`` in this process, or, with ``--remote URL``
    (``TESLA_SERVER``), the project behind that server (``tesla.remote.RemoteProject``): same methods, same
    results, same errors."""
    url, token, ctx = _REMOTE.get()
    if url is None:
        from tesla.project import Project

        return Project(project)
    if project != Path("."):
        raise UsageError(f"--project {project} names a local directory, but --remote {url} works on the server's "
                         "project; drop one of them (TESLA_SERVER also sets --remote)")
    from tesla.remote import RemoteProject

    session = RemoteProject(url, token=token)
    ctx.call_on_close(session.close)
    return session


def _local_only(command: str) -> None:
    """Refuse --remote for a command that only makes sense on this machine (a usage error, exit 2)."""
    url, _, _ = _REMOTE.get()
    if url is not None:
        raise UsageError(f"`tesla {command}` works on this machine only; drop --remote {url} (or unset "
                         "TESLA_SERVER)")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tesla {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                                help="Show the version and exit.")] = False,
          remote: Annotated[Optional[str], typer.Option(
              "--remote", "-R", envvar="TESLA_SERVER", show_default=False, metavar="URL",
              help="Run the command on the project of a `tesla server` at this URL (e.g. http://build-box:8765) "
                   "instead of the local one; same output, same exit codes.")] = None,
          token: Annotated[Optional[str], typer.Option(
              "--token", envvar="TESLA_TOKEN", show_default=False, metavar="TOKEN",
              help="API token for --remote (`tesla tokens create USER` on the server's project).")] = None) -> None:
    """Tesla: describe data, search, evaluation and deployment as configs; Tesla compiles and runs them."""
    if remote is not None and not remote.startswith(("http://", "https://")):
        raise UsageError(f"--remote must be an http:// or https:// URL, e.g. http://build-box:8765; got '{remote}' "
                         "(TESLA_SERVER also sets it)")
    _REMOTE.set((remote or None, token or None, ctx))


# -- project and data ----------------------------------------------------------------------------------
@app.command()
def init(path: Annotated[Path, typer.Argument(help="Directory of the new project.")]) -> None:
    """Scaffold a project: conf/, data/, .gitignore and a CI workflow."""
    from tesla.project import Project

    _local_only("init")
    Project.init(path)  # the message names the directory as given, not the resolved root
    typer.echo(f"Created Tesla project in {path}/ (conf/, data/, .gitignore, .github/workflows/tesla.yml)")
    typer.echo(f"Next: cd {path} && tesla load -d data.csv -o NAME --target COLUMN")
    typer.echo("  the pull-request check needs the data in git (commit the file, set data.source and data.target in "
               "conf/config.yaml) or a team store (repository secrets TESLA_DB_URL and TESLA_ARTIFACTS)")


@app.command()
def load(data: Annotated[Optional[str], typer.Option(
             "-d", "--data", help="File (CSV/TSV, Parquet, JSON, Feather, Excel; .gz/.bz2/.zst/.zip) or URL "
             "(s3://, gs://, https://).")] = None,
         output: Annotated[Optional[str], typer.Option("-o", "--output", help="Dataset name (required).")] = None,
         target: Annotated[Optional[str], typer.Option("--target", help="Label column.")] = None,
         message: Annotated[Optional[str], typer.Option("--message", help="Note for this version.")] = None,
         keep_raw: Annotated[bool, typer.Option("--keep-raw", help="Also store the file as given.")] = False,
         sql: Annotated[Optional[str], typer.Option("--sql", help="Load the rows of this query (with --url).")] = None,
         url: Annotated[Optional[str], typer.Option("--url", help="SQLAlchemy database URL --sql runs on.")] = None,
         delimiter: Annotated[Optional[str], typer.Option("--delimiter", help="CSV separator (default: sniffed).")] = None,
         encoding: Annotated[Optional[str], typer.Option("--encoding", help="Text encoding (default: UTF-8).")] = None,
         project: ProjectOpt = Path(".")) -> None:
    """Ingest a file, a URL or a SQL query's rows as a new immutable version of a dataset."""
    from tesla.cli.render import IngestRenderer
    if data is None and sql is None:
        raise UsageError("Missing option '-d' / '--data' (a file or URL), or --sql QUERY --url DATABASE_URL")
    if output is None:
        raise UsageError("Missing option '-o' / '--output': the dataset name")
    if data is not None and "://" not in data and os.path.exists(data) and not os.access(data, os.R_OK):
        # as click's Path type refuses it (a usage error); -d is text so that URLs keep their '//'
        raise UsageError(f"Invalid value for '-d' / '--data': path '{data}' is not readable.")
    with IngestRenderer() as render:
        result = _session(project).data.load(data, output, target=target, message=message, keep_raw=keep_raw,
                                            sql=sql, url=url, delimiter=delimiter, encoding=encoding,
                                            on_event=render)
    v = result.version
    if result.created:
        typer.echo(f"Loaded {v.name}@{v.version}: {v.rows} rows, {len(v.schema)} columns, sha256 {v.sha256[:12]}"
                   + (f", target '{v.target}'" if v.target else ""))
        kinds: dict[str, int] = {}
        for col in v.schema.values():
            kinds[col["type"]] = kinds.get(col["type"], 0) + 1
        typer.echo("  columns: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        if result.raw_sha256:
            typer.echo(f"  raw file kept: sha256 {result.raw_sha256[:12]}")
    else:
        typer.echo(f"Unchanged: {data or 'the query'} has the same content as {v.name}@{v.version}; no new version")


@data_app.command("list")
def data_list(project: ProjectOpt = Path(".")) -> None:
    """Datasets and their current versions."""
    from tesla.cli.render import console, table

    rows = [{"dataset": v.name, "current": v.version, "rows": v.rows, "columns": len(v.schema), "target": v.target,
             "sha256": v.sha256[:12], "source": v.source} for v in _session(project).data.datasets()]
    console.print(table(rows, ["dataset", "current", "rows", "columns", "target", "sha256", "source"]))


@data_app.command("log")
def data_log(name: Annotated[str, typer.Argument(help="Dataset name.")], project: ProjectOpt = Path(".")) -> None:
    """Every version of a dataset, newest first."""
    from tesla.cli.render import console, table

    data = _session(project).data
    current = data.version(name).version
    rows = [{"version": f"{v.version}{' (current)' if v.version == current else ''}", "rows": v.rows,
             "columns": len(v.schema), "sha256": v.sha256[:12], "source": v.source, "created": v.created_at,
             "by": v.created_by, "message": v.message} for v in data.log(name)]
    console.print(table(rows, ["version", "rows", "columns", "sha256", "source", "created", "by", "message"],
                        title=name))


@data_app.command("rollback")
def data_rollback(name: Annotated[str, typer.Argument()], version: Annotated[int, typer.Argument()],
                  project: ProjectOpt = Path(".")) -> None:
    """Make an earlier version current again (nothing is deleted)."""
    v = _session(project).data.rollback(name, version)
    typer.echo(f"{name} now points at version {v.version} ({v.rows} rows, sha256 {v.sha256[:12]})")


@data_app.command("diff")
def data_diff(refs: Annotated[list[str], typer.Argument(help="NAME@A NAME@B (versions or tags); NAME A B also works.",
                                                        show_default=False)],
              key: Annotated[Optional[list[str]], typer.Option("--key", help="Column(s) identifying a row (default: "
                                                               "the declared data.expect.key, else by row hash).")] = None,
              project: ProjectOpt = Path(".")) -> None:
    """Rows added, removed and changed between two versions, per-column changes and distribution shift."""
    name, old, new = _diff_refs(refs)
    d = _session(project).data.diff(name, old, new, key=key or None)
    r = d.rows
    typer.echo(f"{name}@{d.old} -> {name}@{d.new}: rows {d.rows_old} -> {d.rows_new}"
               + (" (identical content)" if d.same_content else ""))
    for label, cols in (("added", d.added_columns), ("removed", d.removed_columns)):
        if cols:
            typer.echo(f"  {label}: {', '.join(cols)}")
    for col, change in d.retyped.items():
        typer.echo(f"  retyped: {col} {change}")
    how = f"by key {', '.join(r.key)}" if r.key else "by row hash (a changed row counts as removed + added)"
    changed = f", {r.changed} changed" if r.changed is not None else ""
    typer.echo(f"  rows {how}: {r.added} added, {r.removed} removed{changed}, {r.unchanged} unchanged")
    for label, examples in (("added", r.examples_added), ("removed", r.examples_removed),
                            ("changed", r.examples_changed)):
        for row in examples:
            typer.echo(f"    {label}: {json.dumps(row, default=str, ensure_ascii=False)}")
    moved = [c for c in r.columns if c.shift > 0 or c.changed]
    if moved:
        from tesla.cli.render import console, table

        console.print(table([{"column": c.column, "changed": c.changed, "shift":
                              f"{c.shift:.3f} ({c.measure})", "old": c.old, "new": c.new} for c in moved],
                            ["column", "changed", "shift", "old", "new"], title="columns"))


def _diff_refs(refs: list[str]) -> tuple[str, str, str]:
    """(name, old, new) from ``NAME@A NAME@B`` or the older ``NAME A B``."""
    if len(refs) == 3 and "@" not in refs[0]:
        return refs[0], refs[1], refs[2]
    if len(refs) == 2 and all("@" in r for r in refs):
        (a, va), (b, vb) = (r.split("@", 1) for r in refs)
        if a != b:
            raise UsageError(f"diff compares two versions of one dataset; got '{a}' and '{b}'")
        return a, va, vb
    raise UsageError("pass two versions as NAME@A NAME@B (e.g. bc@1 bc@2), or NAME A B")


@data_app.command("show")
def data_show(ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@TAG.")],
              project: ProjectOpt = Path(".")) -> None:
    """A version: schema, counts, hash, source, who, tags and the models trained on it."""
    from tesla.cli.render import console, table

    d = _session(project).data.show(ref)
    v = d.version
    typer.echo(f"{v.name}@{v.version}{' (current)' if d.current else ''}: {v.rows} rows, {len(v.schema)} columns")
    for label, value in (("sha256", v.sha256), ("source", v.source), ("created", f"{v.created_at} by {v.created_by}"),
                         ("target", v.target), ("message", v.message), ("tags", ", ".join(d.tags)),
                         ("models", ", ".join(d.models))):
        if value:
            typer.echo(f"  {label}: {value}")
    rows = [{"column": c, **{k: s.get(k) for k in ("type", "dtype", "nullable", "n_unique")}} for c, s in v.schema.items()]
    console.print(table(rows, ["column", "type", "dtype", "nullable", "n_unique"]))


@data_app.command("tag")
def data_tag(ref: Annotated[str, typer.Argument(help="NAME@VERSION to tag.")],
             tag: Annotated[str, typer.Argument(help="The tag (a word, e.g. v1-clean).")],
             project: ProjectOpt = Path(".")) -> None:
    """Name a version; `NAME@TAG` then works wherever `NAME@V` does, and gc keeps it."""
    r = _session(project).data.tag(ref, tag)
    moved = f" (moved from version {r.moved_from})" if r.moved_from is not None else ""
    typer.echo(f"{r.dataset}@{r.tag} -> version {r.version}{moved}")


@data_app.command("export")
def data_export(ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@TAG.")],
                output: Annotated[Path, typer.Option("-o", "--output", help="FILE.csv or FILE.parquet.")],
                project: ProjectOpt = Path(".")) -> None:
    """Write a version out as a CSV or Parquet file."""
    _local_only("data export")
    r = _session(project).data.export(ref, output)
    typer.echo(f"Wrote {r.dataset}@{r.version} ({r.rows} rows) to {r.path}")


@data_app.command("gc")
def data_gc(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be deleted.")] = False,
            project: ProjectOpt = Path(".")) -> None:
    """Delete dataset versions nothing refers to (current, newest, tagged, trained on, deployed or in use: kept)."""
    r = _session(project).data.gc(dry_run=dry_run)
    verb = "Would delete" if r.dry_run else "Deleted"
    if not r.removed:
        typer.echo(f"Nothing to delete: every version is referenced ({len(r.kept)} kept)")
        return
    freed = "" if r.dry_run else f"; freed {r.freed_bytes:,} bytes in {r.files} file{'s' if r.files != 1 else ''}"
    typer.echo(f"{verb} {len(r.removed)} version{'s' if len(r.removed) != 1 else ''}: {', '.join(r.removed)}{freed}")
    for ref, why in r.kept.items():
        typer.echo(f"  kept {ref}: {why}")


@data_app.command("profile")
def data_profile(name: Annotated[str, typer.Argument(help="Dataset NAME or NAME@V.")],
                 version: Annotated[Optional[int], typer.Option("--version")] = None,
                 open_report: Annotated[bool, typer.Option("--open", help="Open the HTML report.")] = False,
                 project: ProjectOpt = Path(".")) -> None:
    """Distributions, missing values, associations, target balance, duplicates and warnings; an HTML report."""
    from tesla.cli.render import console, table

    if "@" in name:
        name, _, v = name.partition("@")
        if not v.isdigit() or version is not None:
            raise typer.BadParameter(f"'{name}@{v}': write NAME@V with V a version number (or --version V, "
                                     "not both)", param_hint="NAME")
        version = int(v)
    prof = _session(project).data.profile(name, version)
    rows = [{"column": c.name, "kind": c.kind, "missing": c.missing, "distinct": c.distinct,
             "mean": c.stats.get("mean"), "top": ", ".join(k for k, _ in c.top[:3]),
             "target assoc.": c.target_association} for c in prof.columns]
    console.print(table(rows, ["column", "kind", "missing", "distinct", "mean", "top", "target assoc."],
                        title=f"{prof.name}: {prof.rows} rows, {prof.duplicates} duplicate rows"))
    if prof.target_balance:
        typer.echo(f"target {prof.target}: " + ", ".join(f"{k} {v} ({v / prof.rows:.1%})"
                                                          for k, v in prof.target_balance.items()))
    for warning in prof.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"report: {prof.report_path}")
    if open_report:
        _open(Path(prof.report_path))


# -- plan and train -----------------------------------------------------------------------------------------
@app.command()
def plan(overrides: Overrides = None,
         model: Annotated[Optional[str], typer.Option("-m", "--model", help="Model name.")] = None,
         framework: Annotated[Optional[str], typer.Option("-f", "--framework")] = None,
         trials: Annotated[Optional[int], typer.Option("-p", "--trials", help="Number of trials (search.max_iter).")] = None,
         fmt: Annotated[str, typer.Option("--format", help="text | json | md")] = "text",
         cfg: Annotated[bool, typer.Option("--cfg", help="Print the composed config instead.")] = False,
         dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact provider requests, their strict "
                                               "validation and a cost estimate; sends nothing.")] = False,
         multirun: Annotated[bool, typer.Option("--multirun", "-M", help="Plan every point of a sweep "
                                                "(comma-separated override values).")] = False,
         diff: Annotated[Optional[str], typer.Option("--diff", metavar="REF", show_default=False,
                                                     help="Compare with the project at git ref REF: changed keys, "
                                                          "steps added/removed/invalidated and why, cost change.")] = None,
         project: ProjectOpt = Path(".")) -> None:
    """Show the compiled plan and what is cached. Runs nothing."""
    ov = _overrides(overrides)
    if cfg:
        return _print_cfg(ov, model, framework, trials, project)
    if fmt not in {"text", "json", "md"}:
        raise UsageError(f"--format must be text, json or md; got '{fmt}'")
    if diff is not None:
        return _plan_diff(diff, ov, model, framework, trials, fmt, project, dry_run or multirun)
    if multirun:
        return _plan_multirun(ov, model, framework, trials, fmt, project, dry_run)
    training = _session(project).training
    if dry_run:
        return _print_dry_run(training.dry_run(model, framework=framework, max_iter=trials, overrides=ov), fmt)
    compiled = training.compile_plan(model, framework=framework, max_iter=trials, overrides=ov)
    if fmt == "json":
        sys.stdout.write(compiled.to_json())
        return
    from tesla.cli.render import console, plan_markdown, plan_text

    status = training.plan_status(compiled)
    if fmt == "md":
        sys.stdout.write(plan_markdown(compiled, status))
    else:
        console.print(plan_text(compiled, status))
        todo = [s for s, v in status.items() if v != "cached"]
        where = compiled.backend.get("name")
        console.print(f"{len(status) - len(todo)} cached, {len(todo)} to run on backend '{where}' "
                      + ("(local: no charge)" if where == "local" else "(--dry-run shows its requests and cost)"))


def _plan_diff(ref: str, ov: list[str], model: str | None, framework: str | None, trials: int | None, fmt: str,
               project: Path, conflicting: bool) -> None:
    from tesla.project import Project
    from tesla.review import plan_diff

    _local_only("plan --diff")  # it reads this machine's git repository
    if conflicting:
        raise UsageError("--diff compares one training plan; drop --dry-run / --multirun")
    result = plan_diff(Project(project), ref, model=model, framework=framework, max_iter=trials, overrides=ov)
    if fmt == "json":
        return _print_json(result.to_dict())
    sys.stdout.write(result.to_markdown() if fmt == "md" else result.to_text())


@app.command()
def review(overrides: Overrides = None,
           base: Annotated[Optional[str], typer.Option("--base", metavar="REF", show_default=False,
                                                       help="The git ref to review against (default: "
                                                            "origin/$GITHUB_BASE_REF in a pull request, else HEAD).")] = None,
           model: Annotated[Optional[str], typer.Option("-m", "--model", help="Model name.")] = None,
           framework: Annotated[Optional[str], typer.Option("-f", "--framework")] = None,
           trials: Annotated[Optional[int], typer.Option("-p", "--trials", help="Number of trials (search.max_iter).")] = None,
           profile: Annotated[str, typer.Option("--profile", help="Deploy profile whose serving version the "
                                                "candidate is compared with.")] = "production",
           fmt: Annotated[str, typer.Option("--format", help="text | md | json")] = "text",
           project: ProjectOpt = Path(".")) -> None:
    """One pull-request comment: config diff, data version changes, plan diff, metric deltas against production."""
    from tesla.project import Project
    from tesla.review import review as make_review

    _local_only("review")  # it reads this machine's git repository
    ov = _overrides(overrides)
    if fmt not in {"text", "json", "md"}:
        raise UsageError(f"--format must be text, md or json; got '{fmt}'")
    ref = base or (f"origin/{os.environ['GITHUB_BASE_REF']}" if os.environ.get("GITHUB_BASE_REF") else "HEAD")
    result = make_review(Project(project), ref, model=model, framework=framework, max_iter=trials, overrides=ov,
                         profile=profile)
    if fmt == "json":
        return _print_json(result.to_dict())
    sys.stdout.write(result.to_markdown() if fmt == "md" else result.to_text())


def _print_dry_run(result: Any, fmt: str) -> None:
    from tesla.cli.render import console, cost_table, err_console

    doc = {"plan": result.plan.name, "fingerprint": result.plan.fingerprint, "backend": result.backend,
           "requests": result.requests, "problems": result.problems, "cost": result.cost,
           "budget_error": result.budget_error}
    if fmt == "json":
        _print_json(doc)
    else:
        typer.echo(f"# {len(result.requests)} request(s) backend '{result.backend}' would send for plan "
                   f"{result.plan.name} ({result.plan.fingerprint[:12]}); nothing was sent")
        _print_json(result.requests)
        typer.echo("validation: " + ("OK, every request passes strict validation" if not result.problems
                                     else f"{len(result.problems)} problem(s)"))
        for problem in result.problems:
            typer.echo(f"  - {problem}")
        console.print(cost_table(result.cost))
    if result.problems or result.budget_error:
        err_console.print(f"Error: {result.budget_error or result.problems[0]}", markup=False)
        raise typer.Exit(1)


def _print_cfg(ov: list[str], model: str | None, framework: str | None, trials: int | None, project: Path) -> None:
    from omegaconf import OmegaConf

    node, _ = _session(project).training.config(model, framework=framework, max_iter=trials, overrides=ov)
    sys.stdout.write(OmegaConf.to_yaml(node))


@app.command()
def train(overrides: Overrides = None,
          model: Annotated[Optional[str], typer.Option("-m", "--model", help="Model name to register.")] = None,
          framework: Annotated[Optional[str], typer.Option("-f", "--framework",
                                                           help="scikit-learn | pytorch | tensorflow | auto")] = None,
          trials: Annotated[Optional[int], typer.Option("-p", "--trials", help="Number of trials (search.max_iter).")] = None,
          force: Annotated[bool, typer.Option("--force", help="Re-run steps even when cached.")] = False,
          multirun: Annotated[bool, typer.Option("--multirun", "-M", help="Sweep comma-separated override values.")] = False,
          cfg: Annotated[bool, typer.Option("--cfg", help="Print the composed config and exit.")] = False,
          project: ProjectOpt = Path(".")) -> None:
    """Search models with FLAML, evaluate the best, register it as a new model version."""
    from tesla.cli.render import ProgressRenderer, console, table

    ov = _overrides(overrides)
    if cfg:
        return _print_cfg(ov, model, framework, trials, project)
    if multirun:
        return _train_multirun(ov, model, framework, trials, force, project)
    training = _session(project).training
    result = training.train(model, framework=framework, max_iter=trials, overrides=ov, force=force,
                            on_event=ProgressRenderer())
    counts: dict[str, int] = {}
    for trial in training.trials(result.run.run_id):
        counts[trial.estimator] = counts.get(trial.estimator, 0) + 1
    rows = [{"estimator": e, "best loss": loss, "trials": counts.get(e, 0)}
            for e, loss in sorted(result.leaderboard.items(), key=lambda kv: kv[1])]
    console.print(table(rows, ["estimator", "best loss", "trials"],
                        title=f"leaderboard ({result.search['metric']}, loss = lower is better)"))
    mv = result.model
    state = "registered" if result.created else "unchanged (the same bundle is already registered)"
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in mv.metrics.items())
    typer.echo(f"{mv.ref} {state}: {result.search['best_estimator']}; held-out {metrics}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"run {result.run.run_id} · dataset {mv.dataset}@{mv.dataset_version}")


def _point_labels(points: list[list[str]]) -> list[str]:
    """What tells each sweep point apart: its overrides minus those every point shares."""
    common = set.intersection(*(set(p) for p in points)) if len(points) > 1 else set()
    return [" ".join(o for o in p if o not in common) or "(base config)" for p in points]


def _plan_multirun(ov: list[str], model: str | None, framework: str | None, trials: int | None, fmt: str,
                   project: Path, dry_run: bool) -> None:
    from rich.markup import escape

    from tesla.cli.render import console, plan_markdown, plan_text

    training = _session(project).training
    planned = training.compile_sweep_plans(model, framework=framework, max_iter=trials, overrides=ov)
    if dry_run:  # the first point's requests; its cost times the number of points
        return _print_dry_run(training.dry_run(overrides=planned.tesla_overrides(0), points=len(planned.points)),
                              fmt)
    labels = _point_labels([p for p, _ in planned.points])
    if fmt == "json":
        _print_json({"model": planned.model, "sweeper": planned.sweeper, "launcher": planned.launcher,
                     "points": [{"num": i, "point": label, "overrides": o, "plan": json.loads(plan.to_json())}
                                for i, (label, (o, plan)) in enumerate(zip(labels, planned.points))]})
        return
    summary = (f"sweep of {len(planned.points)} points · sweeper {planned.sweeper.rsplit('.', 1)[-1]} · launcher "
               f"{planned.launcher.rsplit('.', 1)[-1]} · each point trains without registering; the best by the "
               f"held-out metric is registered as the next version of '{planned.model}'")
    if fmt == "md":
        sys.stdout.write(f"### Tesla sweep\n\n{summary}\n\n")
    for i, (label, (_, compiled)) in enumerate(zip(labels, planned.points)):
        status = training.plan_status(compiled)
        if fmt == "md":
            sys.stdout.write(f"#### point #{i}: `{label}`\n\n{plan_markdown(compiled, status)}\n")
        else:
            console.print(f"[bold]point #{i}[/]: {escape(label)}")
            console.print(plan_text(compiled, status) + "\n")
    if fmt == "text":
        console.print(summary)


def _train_multirun(ov: list[str], model: str | None, framework: str | None, trials: int | None, force: bool,
                    project: Path) -> None:
    from rich.markup import escape

    from tesla.cli.render import ProgressRenderer, console, err_console, table
    from tesla.execution import Event

    renderer = ProgressRenderer()

    def on_event(event: Event) -> None:
        if event.kind == "sweep_point":
            err_console.print(f"[bold]point #{event.data['num']}[/]: {escape(' '.join(event.data['overrides']))}")
        else:
            renderer(event)

    result = _session(project).training.sweep(model, framework=framework, max_iter=trials, overrides=ov, force=force,
                                             on_event=on_event)
    metric = result.rank_metric or "score"
    rows = [{"rank": r.rank, "point": r.point, "run": r.run_id, "search metric": r.search_metric,
             "best estimator": r.best_estimator, "val loss": r.best_loss, f"held-out {metric}": r.score,
             "status": r.status} for r in result.leaderboard]
    console.print(table(rows, list(rows[0]) if rows else ["rank"], title=f"sweep {result.sweep_id} leaderboard"))
    best, mv = result.leaderboard[0], result.model
    state = "registered" if result.created else "unchanged (the same bundle is already registered)"
    typer.echo(f"{mv.ref} {state}: point #{best.num} ({best.point}), run {best.run_id}, "
               f"held-out {metric} {best.score:.4f}")
    typer.echo(f"sweep {result.sweep_id} · {len(rows)} points · `tesla runs show {result.sweep_id}` for the report")


@app.command()
def replay(model: ModelOpt, project: ProjectOpt = Path(".")) -> None:
    """Refit a model's winning config on its recorded data; exit 1 unless the held-out score matches."""
    from tesla.cli.render import ProgressRenderer, console, table

    result = _session(project).training.replay(model, on_event=ProgressRenderer())
    rows = [{"metric": k, "recorded": v, "replayed": result.replayed.get(k)} for k, v in sorted(result.recorded.items())]
    console.print(table(rows, ["metric", "recorded", "replayed"], title=f"replay of {result.model.ref}"))
    typer.echo(f"{result.model.ref} replays: every held-out metric matches (dataset {result.model.dataset}@"
               f"{result.model.dataset_version}, replay run {result.run.run_id})")


# -- evaluate, predict, deploy ---------------------------------------------------------------------------------
@app.command()
def evaluate(model: ModelOpt,
             data: Annotated[Path, typer.Option("-d", "--data", help="Labelled CSV/Parquet file.")],
             overrides: Overrides = None,
             against: Annotated[Optional[str], typer.Option("--against", help="Deploy profile whose serving version to "
                                                            "compare with on the same rows (e.g. production).")] = None,
             open_report: Annotated[bool, typer.Option("--open", help="Open the HTML report in a browser.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
             force: Annotated[bool, typer.Option("--force")] = False,
             project: ProjectOpt = Path(".")) -> None:
    """Score a registered model on labelled data, against a dummy baseline; checks gates; writes an HTML report."""
    from tesla.cli.render import ProgressRenderer, console, table

    ov = _overrides(overrides)
    result = _session(project).evaluation.evaluate(model, data, overrides=ov, force=force, against=against,
                                                  on_event=None if as_json else ProgressRenderer())
    if as_json:
        _print_json({"model": result.model.ref, "rows": result.rows, "metrics": result.metrics,
                     "baseline": result.baseline, "decision": result.decision, "warnings": result.warnings,
                     "gates": result.gates, "deltas": result.deltas, "report": str(result.report_path)})
        return
    rows = [{"metric": k, "model": v, "baseline": result.baseline.get(k)} for k, v in result.metrics.items()]
    console.print(table(rows, ["metric", "model", "baseline"], title=f"{result.model.ref} on {data} ({result.rows} rows)"))
    if result.deltas and result.against is not None:
        _print_deltas(result.deltas, (result.against.ref, result.model.ref))
    for gate in result.gates:
        typer.echo(f"gate {gate['metric']} {gate['rule']}: pass ({gate['value']:.4f})")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"report: {result.report_path}")
    if open_report:
        _open(result.report_path)


def _print_deltas(deltas: list[Any], names: tuple[str, str]) -> None:
    from tesla.cli.render import console, table

    rows = [{"metric": d.metric, names[0]: d.a, names[1]: d.b, "delta": d.delta, "95% low": d.low,
             "95% high": d.high, "verdict": d.verdict_for(names)} for d in deltas]
    console.print(table(rows, ["metric", names[0], names[1], "delta", "95% low", "95% high", "verdict"],
                        title=f"{names[1]} minus {names[0]} on the same rows (paired bootstrap)"))


def _open(path: Path) -> None:
    from tesla.report.files import open_report

    if not open_report(path):
        typer.echo(f"could not start a browser; open {path}", err=True)


@app.command()
def predict(model: ModelOpt,
            data: Annotated[Path, typer.Option("-d", "--data", help="CSV/Parquet file of rows to score.")],
            output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Where to write predictions.")] = None,
            project: ProjectOpt = Path(".")) -> None:
    """Batch-score a file with a registered model."""
    frame = _session(project).evaluation.predict(model, data, output)
    if output is None:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        typer.echo(f"wrote {len(frame)} predictions to {output}")


@app.command()
def deploy(model: ModelOpt,
           profile: Annotated[str, typer.Option("-p", "--profile", help="Deploy profile (conf/deploy/<profile>.yaml).")] = "production",
           overrides: Overrides = None, project: ProjectOpt = Path(".")) -> None:
    """Serve a registered model with a deploy profile (idempotent)."""
    ov = _overrides(overrides)
    result = _session(project).deployments.deploy(model, profile, overrides=ov)
    if not result.changed:
        typer.echo(f"{result.model.ref} is already serving on '{result.profile}' at {result.url} (no change)")
        return
    typer.echo(f"{result.model.ref} serving on '{result.profile}' ({result.target}) at {result.url}")
    typer.echo(f"  try: curl -s {result.url}/predict -H 'content-type: application/json' "
               "-d '{\"records\": [{...}]}'   ·   schema: " + f"{result.url}/schema")


@deployments_app.command("list")
def deployments_list(all_: Annotated[bool, typer.Option("--all", help="Include stopped ones.")] = False,
                     project: ProjectOpt = Path(".")) -> None:
    """Deployments (running ones, or --all)."""
    from tesla.cli.render import console, table

    rows = [{**vars(d), "by": d.created_by} for d in _session(project).deployments.list(active_only=not all_)]
    console.print(table(rows, ["id", "model", "version", "profile", "target", "status", "url", "pid", "created_at",
                               "by"]))


@deployments_app.command("stop")
def deployments_stop(model: Annotated[str, typer.Argument(help="Model name.")],
                     profile: Annotated[Optional[str], typer.Option("-p", "--profile")] = None,
                     project: ProjectOpt = Path(".")) -> None:
    """Stop the running deployments of a model."""
    for d in _session(project).deployments.stop(model, profile=profile):
        typer.echo(f"stopped {d.model}@{d.version} on '{d.profile}' ({d.url})")


@deployments_app.command("status")
def deployments_status(model: Annotated[Optional[str], typer.Argument(help="Model name; default: all.")] = None,
                       profile: Annotated[Optional[str], typer.Option("-p", "--profile")] = None,
                       as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
                       project: ProjectOpt = Path(".")) -> None:
    """Running deployments with a live health check and their prediction-capture counts."""
    from tesla.cli.render import console, table

    rows = _session(project).deployments.status(model, profile=profile)
    if as_json:
        from tesla.wire import encode

        return _print_json(encode(rows))
    shown = [{**vars(d), "health": d.health.get("status"), "uptime_s": d.health.get("uptime_s"),
              "captured": (f"{d.capture['files']} files, {d.capture['bytes']} B, "
                           f"{d.capture['dropped']} dropped") if d.capture["enabled"] else "off"}
             for d in rows]
    console.print(table(shown, ["model", "version", "profile", "target", "url", "pid", "health", "uptime_s",
                                "captured"]))


@deployments_app.command("logs")
def deployments_logs(model: Annotated[str, typer.Argument(help="Model name.")],
                     profile: Annotated[Optional[str], typer.Option("-p", "--profile")] = None,
                     lines: Annotated[int, typer.Option("-n", "--lines", help="Last N lines; 0: all.")] = 50,
                     project: ProjectOpt = Path(".")) -> None:
    """The server log of a model's newest deployment."""
    dep, text = _session(project).deployments.logs(model, profile=profile, lines=lines)
    typer.echo(f"# {dep.model}@{dep.version} on '{dep.profile}' ({dep.status}): {dep.log_path}",
               err=True)
    if text:
        typer.echo(text)


@app.command()
def rollback(profile: Annotated[str, typer.Option("-p", "--profile", help="Deploy profile.")] = "production",
             model: Annotated[Optional[str], typer.Option("-m", "--model",
                                                          help="Model name; default: the profile's only model.")] = None,
             overrides: Overrides = None, project: ProjectOpt = Path(".")) -> None:
    """Serve again the version that served the profile before the current one."""
    ov = _overrides(overrides)
    result = _session(project).deployments.rollback(profile, model=model, overrides=ov)
    state = "rolled back to" if result.changed else "already serving"
    typer.echo(f"{state} {result.model.ref} on '{result.profile}' ({result.target}) at {result.url}")


@app.command()
def server(host: Annotated[str, typer.Option("--host", help="Bind address (loopback by default).")] = "127.0.0.1",
           port: Annotated[int, typer.Option("--port")] = 8765,
           project: ProjectOpt = Path(".")) -> None:
    """Serve the REST API (data, training, evaluation, deployment, monitoring) for this project."""
    _local_only("server")
    import uvicorn

    from tesla.project import Project
    from tesla.server.app import create_app

    users = Project(project).users.list()  # refuses a directory in no project before anything listens
    loopback = _is_loopback(host)
    if not loopback and not users:
        raise UsageError(f"the project has no users, so the REST server answers without a token and may only bind "
                         f"to loopback (127.0.0.1), not '{host}'; create a user with `tesla users add NAME --role "
                         "ROLE` and a token with `tesla tokens create NAME` to bind off loopback")
    # off loopback a token is required even if the last user is removed while the server runs
    web = create_app(project, require_auth=not loopback)
    auth = (f"auth on: {len(users)} user(s); every request needs 'Authorization: Bearer TOKEN'" if users else
            "auth off: the project has no users, so requests need no token (loopback only; `tesla users add` "
            "turns it on)")
    typer.echo(f"Tesla REST API for {web.state.project} on http://{host}:{port} (docs at /docs); {auth}")
    uvicorn.run(web, host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


# -- models and runs ----------------------------------------------------------------------------------------
@models_app.command("list")
def models_list(name: Annotated[Optional[str], typer.Argument()] = None, project: ProjectOpt = Path(".")) -> None:
    """Registered model versions with their metrics and lineage."""
    from tesla.cli.render import console, table

    rows = [{"model": m.ref, "framework": m.framework, "task": m.task, "estimator": m.config.get("best_estimator"),
             "dataset": f"{m.dataset}@{m.dataset_version}", "stage": ", ".join(m.aliases) or m.stage,
             "metrics": ", ".join(f"{k}={v:.4f}" for k, v in list(m.metrics.items())[:3]), "created": m.created_at,
             "by": m.created_by} for m in _session(project).training.models(name)]
    console.print(table(rows, ["model", "framework", "task", "estimator", "dataset", "stage", "metrics", "created",
                               "by"]))


@models_app.command("show")
def models_show(ref: Annotated[str, typer.Argument(metavar="NAME@V", help="Model name; NAME@N picks version N "
                                                   "(default: the newest).")],
                as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
                project: ProjectOpt = Path(".")) -> None:
    """A model version's lineage: dataset version, plan fingerprint, resolved config, code and package versions,
    who trained it."""
    from tesla.lineage import model_lineage
    from tesla.project import Project

    _local_only("models show")
    session = Project(project)
    lineage = model_lineage(session.store, session.training.resolve_model(ref))
    if as_json:
        return _print_json(lineage.to_dict())
    code = lineage.code
    commit = code.get("git_commit")
    facts = [("model", lineage.model), ("stage", lineage.stage), ("trained by", lineage.created_by),
             ("trained at", lineage.created_at), ("run", lineage.run_id), ("dataset", lineage.dataset),
             ("dataset sha256", lineage.dataset_sha256), ("plan fingerprint", lineage.plan_fingerprint),
             ("git commit", (commit + (" (with uncommitted changes)" if code.get("git_dirty") else ""))
              if commit else ("not in a git repository" if "git_dirty" in code else None)),
             ("tesla", code.get("tesla")),
             ("metrics", ", ".join(f"{k}={v:.4f}" for k, v in lineage.metrics.items()))]
    for label, value in facts:
        typer.echo(f"{label + ':':<18}{'' if value is None else value}")
    typer.echo("packages:" + ("" if lineage.packages else " (not recorded)"))
    for name, version in sorted(lineage.packages.items()):
        typer.echo(f"  {name}=={version}")
    typer.echo("resolved config:" + ("" if lineage.config else " (not recorded)"))
    from omegaconf import OmegaConf

    if lineage.config:
        typer.echo("  " + OmegaConf.to_yaml(lineage.config).rstrip("\n").replace("\n", "\n  "))
    if lineage.missing:
        typer.echo(f"not recorded for this version (trained by an older Tesla): {', '.join(lineage.missing)}")


@models_app.command("compare")
def models_compare(a: Annotated[str, typer.Argument(help="Model NAME@N (the reference).")],
                   b: Annotated[str, typer.Argument(help="Model NAME@N (the challenger).")],
                   data: Annotated[Path, typer.Option("-d", "--data", help="Labelled CSV/Parquet file.")],
                   overrides: Overrides = None,
                   open_report: Annotated[bool, typer.Option("--open", help="Open the HTML report.")] = False,
                   project: ProjectOpt = Path(".")) -> None:
    """Metric deltas (B minus A) on the same labelled rows, with paired bootstrap confidence intervals."""
    result = _session(project).evaluation.compare(a, b, data, overrides=_overrides(overrides))
    _print_deltas(result.deltas, (result.a.ref, result.b.ref))
    typer.echo(f"report: {result.report_path}")
    if open_report:
        _open(result.report_path)


@models_app.command("promote")
def models_promote(ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@ALIAS) of the version")],
                   stage: Annotated[str, typer.Argument(help="production, staging or any alias")],
                   project: ProjectOpt = Path(".")) -> None:
    """Point a stage or alias at a model version: `-m NAME@STAGE` then means that version everywhere."""
    mv = _session(project).training.promote(ref, stage)
    typer.echo(f"{mv.name}@{stage} -> {mv.ref}")


@runs_app.command("list")
def runs_list(limit: Annotated[int, typer.Option("--limit")] = 20, project: ProjectOpt = Path(".")) -> None:
    """Recent runs."""
    from tesla.cli.render import console, table

    rows = [{**vars(r), "fingerprint": r.plan_fingerprint[:12], "by": r.created_by}
            for r in _session(project).training.runs(limit)]
    console.print(table(rows, ["id", "plan_name", "backend", "status", "fingerprint", "started_at", "ended_at", "by",
                               "error"]))


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument()], project: ProjectOpt = Path(".")) -> None:
    """Steps, leaderboard and trials of one run (a sweep: its points); writes the run's HTML report."""
    from tesla.cli.render import console, table

    report = _session(project).training.run_report(run_id)
    run = report.run
    console.print(f"run {run.id} · {run.plan_name} · {run.status} · backend {run.backend}"
                  + (f" · sweep {run.parent_id}" if run.parent_id else ""))
    steps = [{"step": s.step_id, "kind": s.kind, "status": s.status, "seconds": s.seconds,
              "fingerprint": s.fingerprint[:12]} for s in report.steps]
    if steps:
        console.print(table(steps, ["step", "kind", "status", "seconds", "fingerprint"]))
    if report.rank_metric is not None or run.plan_name.startswith("sweep/"):
        console.print(table([vars(p) for p in report.points], ["rank", "point", "run_id", "status", "search_metric",
                                                 "best_estimator", "best_loss", "score"],
                            title=f"leaderboard across points (held-out {report.rank_metric})"))
    elif report.trials:
        # each estimator's measured serving cost, from the search step's result (search.max_predict_ms_per_row)
        costs = next((s.result.get("predict_ms_per_row") or {} for s in report.steps if s.kind == "search"), {})
        console.print(table([{**vars(e), "predict_ms_per_row": costs.get(e.estimator)} for e in report.estimators],
                            ["rank", "estimator", "best_loss", "trials", "best_trial", "predict_ms_per_row"],
                            title="leaderboard (best validation loss per estimator)"))
        console.print(table([vars(t) for t in report.trials], ["n", "estimator", "loss", "best_loss", "wall_s"],
                            title="trials"))
    typer.echo(f"report: {report.path}")


@runs_app.command("compare")
def runs_compare(run_ids: Annotated[list[str], typer.Argument(metavar="RUN...", help="Two or more run ids.")],
                 as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
                 project: ProjectOpt = Path(".")) -> None:
    """Runs side by side: the config keys that differ, held-out metrics and leaderboards."""
    from tesla.cli.render import console, table
    from tesla.comparison import compare_runs
    from tesla.project import Project

    _local_only("runs compare")
    if len(set(run_ids)) < 2:
        raise UsageError("tesla runs compare needs two or more different run ids (see `tesla runs list`)")
    result = compare_runs(Project(project).store, run_ids)
    if as_json:
        return _print_json(result.to_dict())
    ids = [r.run.id for r in result.runs]
    console.print(table([{"": label, **{r.run.id: fact(r) for r in result.runs}} for label, fact in _RUN_FACTS],
                        ["", *ids], title="runs"))
    config = [{k: v if k == "key" or v == "(absent)" else json.dumps(v, sort_keys=True, ensure_ascii=False)
               for k, v in row.items()} for row in result.config_rows]
    groups = ", ".join(result.groups)
    console.print(table(config, ["key", *ids], title=f"config (keys that differ; groups {groups})")
                  if result.config_rows else f"config: the same in every run (groups {groups})")
    console.print(table(result.metric_rows, ["metric", *ids], title="held-out metrics"))
    console.print(table(result.leaderboard_rows, ["rank", *ids], title="leaderboard (estimator, best validation loss)"))


_RUN_FACTS = (("plan", lambda r: r.run.plan_name), ("status", lambda r: r.run.status),
              ("started", lambda r: r.run.started_at), ("by", lambda r: r.run.created_by),
              ("config from", lambda r: r.config_source))


@app.command("diff")
def diff(run_a: Annotated[str, typer.Argument(metavar="RUN_A")], run_b: Annotated[str, typer.Argument(metavar="RUN_B")],
         as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
         project: ProjectOpt = Path(".")) -> None:
    """The resolved-config keys that differ from RUN_A to RUN_B (nested keys dotted, values in full)."""
    from tesla.comparison import diff_runs
    from tesla.project import Project

    _local_only("diff")
    a, b, changes = diff_runs(Project(project).store, run_a, run_b)
    if as_json:
        return _print_json({"run_a": a.run.id, "run_b": b.run.id, "changes": [c.to_dict() for c in changes]})
    typer.echo(f"--- run {a.run.id} ({a.run.plan_name}, config {a.config_source})")
    typer.echo(f"+++ run {b.run.id} ({b.run.plan_name}, config {b.config_source})")
    only = sorted(set(a.config) ^ set(b.config))
    if only:
        typer.echo(f"# compared: {', '.join(sorted(set(a.config) & set(b.config)))}; recorded by one run only: "
                   f"{', '.join(only)}")
    for change in changes:
        typer.echo(change.describe())
    if not changes:
        typer.echo("(the resolved configs are identical)")


# -- monitoring -------------------------------------------------------------------------------------------------
@monitor_app.callback(invoke_without_command=True)
def monitor(ctx: typer.Context,
            model: Annotated[Optional[str], typer.Option("-m", "--model", help="Model name; NAME@N picks version N.")] = None,
            profile: Annotated[Optional[str], typer.Option("-p", "--profile", help="Deploy profile whose traffic to check.")] = None,
            since: Annotated[Optional[str], typer.Option("--since", help="Only traffic since: 30m, 2h, 7d or an ISO time.")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
            report: Annotated[Optional[Path], typer.Option("--report", help="Where to write the HTML report.")] = None,
            retrain: Annotated[bool, typer.Option("--retrain", help="Same as --set monitor.retrain=true.")] = False,
            sets: Annotated[Optional[list[str]], typer.Option("--set", help="Hydra override KEY=VALUE (repeatable), "
                                                                  "e.g. --set monitor.psi_threshold=0.3.")] = None,
            project: ProjectOpt = Path(".")) -> None:
    """Drift, prediction drift, live metrics, latency and errors of a deployment (exit 1 on alert)."""
    if ctx.invoked_subcommand is not None:
        return
    if not model:
        raise UsageError("Missing option '-m' / '--model'.", ctx=ctx)
    from tesla.monitor import report_text

    overrides = _overrides(sets) + (["monitor.retrain=true"] if retrain else [])
    result = _session(project).monitoring.monitor(model, profile=profile, since=since, overrides=overrides,
                                                 report=report)
    if as_json:
        _print_json(result.to_dict())
    else:
        typer.echo(report_text(result))
    if result.alerting:
        raise typer.Exit(1)  # an alert is an outcome, not an error: no "Error:" line, exit 1 for cron and CI


@monitor_app.command("history")
def monitor_history(model: Annotated[Optional[str], typer.Option("-m", "--model", help="NAME or NAME@N.")] = None,
                    limit: Annotated[int, typer.Option("--limit")] = 20,
                    project: ProjectOpt = Path(".")) -> None:
    """Past monitoring checks, newest first."""
    from tesla.cli.render import console, table

    rows = [{"id": e.id, "checked": e.created_at, "model": e.model, "profile": e.profile,
             "status": e.status, "alerts": "; ".join(a.get("message", a.get("check", "")) for a in e.alerts)[:120],
             "report": e.report_path} for e in _session(project).monitoring.history(model, limit=limit)]
    console.print(table(rows, ["id", "checked", "model", "profile", "status", "alerts", "report"]))


@monitor_app.command("feedback")
def monitor_feedback(model: ModelOpt,
                     data: Annotated[Path, typer.Option("-d", "--data", help="File with request_id, label[, row].")],
                     profile: Annotated[Optional[str], typer.Option("-p", "--profile")] = None,
                     project: ProjectOpt = Path(".")) -> None:
    """Record ground-truth labels for captured predictions."""
    result = _session(project).monitoring.feedback(model, data, profile=profile)
    typer.echo(f"recorded {result.recorded} labels for {result.model} on '{result.profile}'; {result.matched} match "
               f"a captured prediction ({result.path})")


# -- cloud jobs -------------------------------------------------------------------------------------------------
JobArg = Annotated[str, typer.Argument(help="The provider's job name (see `tesla jobs list`).")]


@jobs_app.command("list")
def jobs_list(overrides: Overrides = None, limit: Annotated[int, typer.Option("--limit")] = 20,
              project: ProjectOpt = Path(".")) -> None:
    """Jobs Tesla started on the cloud backend (backend=sagemaker|vertex), newest first."""
    from tesla.cli.render import console, table

    ov = _overrides(overrides)
    rows = _session(project).training.jobs_list(overrides=ov, limit=limit)
    console.print(table(rows, ["job", "run_id", "step", "state", "provider_state", "created"]))


@jobs_app.command("status")
def jobs_status(job: JobArg, overrides: Overrides = None, project: ProjectOpt = Path(".")) -> None:
    """A job's state and, when it failed, the provider's reason."""
    ov = _overrides(overrides)
    status = _session(project).training.jobs_status(job, overrides=ov)
    typer.echo(f"{status['job']}: {status['state']} (provider: {status['provider_state']})"
               + (f": {status['reason']}" if status.get("reason") else ""))
    for key in sorted(k for k in status if k not in {"job", "state", "provider_state", "reason"}):
        if status[key] not in (None, ""):
            typer.echo(f"  {key}: {status[key]}")


@jobs_app.command("logs")
def jobs_logs(job: JobArg, overrides: Overrides = None, project: ProjectOpt = Path(".")) -> None:
    """A job's log lines."""
    ov = _overrides(overrides)
    sys.stdout.write(_session(project).training.jobs_logs(job, overrides=ov))


@jobs_app.command("cancel")
def jobs_cancel(job: JobArg, overrides: Overrides = None, project: ProjectOpt = Path(".")) -> None:
    """Ask the provider to stop a job."""
    ov = _overrides(overrides)
    status = _session(project).training.jobs_cancel(job, overrides=ov)
    typer.echo(f"cancel requested for {job}: now {status['state']} (provider: {status['provider_state']})")


# -- users and API tokens of the REST server ----------------------------------------------------------------------
UserArg = Annotated[str, typer.Argument(help="User name.")]
RoleHelp = "read (GET routes), write (also POST/DELETE: load, train, deploy...) or admin (everything)."


@users_app.command("add")
def users_add(name: UserArg, role: Annotated[str, typer.Option("--role", help=RoleHelp)] = "read",
              project: ProjectOpt = Path(".")) -> None:
    """Add a user; the REST server asks for a token as soon as the project has one user."""
    user = _session(project).users.add(name, role)
    typer.echo(f"added user {user.name} (role {user.role}); make a token with `tesla tokens create {user.name}`")


@store_app.command("upgrade")
def store_upgrade(project: ProjectOpt = Path(".")) -> None:
    """Bring the store (TESLA_DB_URL, or the project's embedded one) to this Tesla's schema, in place."""
    from tesla.store import Store  # lazy: a store command needs no service

    before, after = Store.upgrade(project)
    if before == after:
        typer.echo(f"store schema at revision {after} (up to date)")
    elif before is None:
        typer.echo(f"store created at schema revision {after}")
    else:
        typer.echo(f"store schema upgraded from revision {before} to {after}")


@users_app.command("list")
def users_list(project: ProjectOpt = Path(".")) -> None:
    """Users, their roles and how many active tokens each has."""
    from tesla.cli.render import console, table

    users = _session(project).users
    active: dict[str, int] = {}
    for token in users.tokens():
        active[token.user] = active.get(token.user, 0) + token.active
    rows = [{"user": u.name, "role": u.role, "tokens": active.get(u.name, 0), "created": u.created_at,
             "by": u.created_by} for u in users.list()]
    console.print(table(rows, ["user", "role", "tokens", "created", "by"]))


@users_app.command("remove")
def users_remove(name: UserArg, project: ProjectOpt = Path(".")) -> None:
    """Remove a user and delete their tokens (what they wrote keeps their name)."""
    users = _session(project).users
    user, tokens = users.remove(name)
    typer.echo(f"removed user {user.name} and {tokens} token(s)")
    if not users.list():
        typer.echo("the project has no users now: `tesla server` answers without a token again (loopback only)")


@users_app.command("role")
def users_role(name: UserArg, role: Annotated[str, typer.Argument(help=RoleHelp)],
               project: ProjectOpt = Path(".")) -> None:
    """Change a user's role."""
    user = _session(project).users.set_role(name, role)
    typer.echo(f"{user.name} now has role {user.role}")


@tokens_app.command("create")
def tokens_create(name: UserArg,
                  note: Annotated[Optional[str], typer.Option("--note", help="What the token is for.")] = None,
                  project: ProjectOpt = Path(".")) -> None:
    """Make an API token for a user and print it once (only its hash is stored)."""
    created = _session(project).users.create_token(name, note)
    # the token alone on stdout, so TOKEN=$(tesla tokens create NAME) works; the rest on stderr
    typer.echo(f"token {created.token.id} for {name}; copy it now, it is not shown again:", err=True)
    typer.echo(created.secret)


@tokens_app.command("list")
def tokens_list(name: Annotated[Optional[str], typer.Argument(help="Only this user's tokens.")] = None,
                project: ProjectOpt = Path(".")) -> None:
    """API tokens by id (never the secret), active or revoked."""
    from tesla.cli.render import console, table

    rows = [{"id": t.id, "user": t.user, "note": t.note, "created": t.created_at, "by": t.created_by,
             "status": "active" if t.active else f"revoked {t.revoked_at}"}
            for t in _session(project).users.tokens(name)]
    console.print(table(rows, ["id", "user", "note", "created", "by", "status"]))


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (see `tesla tokens "
                                                          "list`).")],
                  project: ProjectOpt = Path(".")) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    token, was_active = _session(project).users.revoke(token_id)
    typer.echo(f"revoked token {token.id} of {token.user}" if was_active else
               f"token {token.id} of {token.user} was already revoked ({token.revoked_at})")


# -- entry point -------------------------------------------------------------------------------------------------
_OS_HINTS = {PermissionError: "check its permissions", IsADirectoryError: "pass a file, not a directory",
             NotADirectoryError: "a part of the path is a file, not a directory", FileNotFoundError: "check the path",
             FileExistsError: "pick another path"}


def _flat(text: object) -> str:
    return " ".join(str(text).split())


def _os_error_line(exc: OSError) -> str:
    """``Error: '<path>': <reason>; <fix>`` for an OSError that names a path."""
    hint = next((h for cls, h in _OS_HINTS.items() if isinstance(exc, cls)), "check the path")
    return f"Error: '{exc.filename}': {_flat(exc.strerror or exc).lower()}; {hint}"


def _unexpected_line(exc: BaseException) -> str:
    detail = _flat(exc)[:300]
    return (f"Error: unexpected {type(exc).__name__}{f': {detail}' if detail else ''} (a bug in Tesla; rerun with "
            "TESLA_FULL_ERROR=1 for the traceback and report it)")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the one place errors become exit codes."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="tesla", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)  # without standalone mode click returns a typer.Exit's code instead of raising it
    except EXIT as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except ABORT:
        sys.stderr.write("Aborted.\n")
        sys.exit(130)
    except CLICK_ERRORS as exc:
        if shows_help(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        if os.environ.get("TESLA_FULL_ERROR") == "1":
            raise
        sys.stderr.write(one_line(exc) + "\n")
        sys.exit(getattr(exc, "exit_code", 2))
    except TeslaError as exc:  # before OSError: DataNotFoundError is a FileNotFoundError too
        if os.environ.get("TESLA_FULL_ERROR") == "1":
            raise
        sys.stderr.write(f"Error: {exc}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except Exception as exc:  # the last resort: never a traceback unless asked for
        if os.environ.get("TESLA_FULL_ERROR") == "1":
            raise
        if isinstance(exc, OSError) and exc.filename is not None:  # about a path, e.g. a file the user named
            sys.stderr.write(_os_error_line(exc) + "\n")
        else:
            sys.stderr.write(_unexpected_line(exc) + "\n")
        sys.exit(1)
