"""Config review in a pull request: what a change to ``conf/`` does, compared with a git ref.

``plan_diff`` compiles the project twice, at a git ref (its tree extracted with ``git archive`` into
a temporary directory) and in the working tree, both against the working tree's store, and says in
config terms what changed: keys (old -> new), steps added, removed or invalidated with the keys that
invalidate each, and the cost change on a cloud backend. ``review`` adds what a reviewer also wants
in the one comment: the data version each side trains on and, when the working tree's plan has
been trained, the metric deltas of that candidate against the model serving production, with
paired bootstrap intervals on the candidate's evaluation rows (``tesla.evaluation.compare``).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler.diff import KeyChange, StepChange, config_changes, step_changes
from tesla.errors import ProjectError, ProjectNotFoundError, TeslaError
from tesla.plan import Plan
from tesla.services._common import train_overrides

if TYPE_CHECKING:
    from tesla.evaluation.delta import Delta
    from tesla.project import Project
    from tesla.store import ModelVersion

__all__ = ["DataChange", "MetricComparison", "PlanDiff", "Review", "Side", "checkout", "plan_diff", "review"]


# -- the base ref, checked out -----------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise ProjectError("git is not installed; tesla plan --diff and tesla review compare against a git ref",
                           key="git") from exc


@contextlib.contextmanager
def checkout(root: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """The project at ``root`` as it is at git ref ``ref``: (its root in a temporary directory, the commit).

    Raises:
        ProjectError: ``root`` is in no git repository, ``ref`` names no commit, or the project did not
            exist at ``ref``.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ProjectError(f"'{root}' is not in a git repository; --diff and --base compare the project with a git "
                           "ref (git init, commit, then change conf/)", key="ref")
    toplevel = Path(top.stdout.decode().strip())
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise ProjectError(f"git ref '{ref}' names no commit here; name a branch, tag or commit (in CI, fetch the "
                           "base branch: actions/checkout with fetch-depth: 0)", key="ref")
    sha = commit.stdout.decode().strip()
    prefix = root.resolve().relative_to(toplevel.resolve()).as_posix()
    archive = _git(toplevel, "archive", "--format=tar", sha, *([prefix] if prefix != "." else []))
    if archive.returncode != 0:
        raise ProjectError(f"the project '{prefix}' does not exist at git ref '{ref}' ({sha[:12]}); compare with "
                           "a ref that has it", key="ref")
    with tempfile.TemporaryDirectory(prefix="tesla-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        base = Path(tmp) / prefix
        if not (base / "conf" / "config.yaml").is_file():
            raise ProjectError(f"git ref '{ref}' ({sha[:12]}) has no conf/config.yaml in '{prefix}': the project "
                               "did not exist there yet", key="ref")
        yield base, sha


# -- plan diff ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    """One side of a comparison: its resolved config, its plan and the plan's cost estimate."""

    config: dict[str, Any]
    plan: Plan
    usd: float | None  # None: a local backend (no charge)
    cost_note: str | None = None  # why a cloud plan could not be priced


@dataclass(frozen=True)
class PlanDiff:
    """The project at ``base`` against the working tree, in config terms."""

    base: str  # the ref as given
    base_commit: str
    old: Side
    new: Side
    config: list[KeyChange]
    steps: list[StepChange]

    @property
    def invalidated(self) -> list[StepChange]:
        return [s for s in self.steps if s.change != "unchanged"]

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "base_commit": self.base_commit,
                "fingerprint": {"old": self.old.plan.fingerprint, "new": self.new.plan.fingerprint},
                "config": [c.to_dict() for c in self.config], "steps": [s.to_dict() for s in self.steps],
                "cost": {"old_usd": self.old.usd, "new_usd": self.new.usd,
                         "backend": {"old": self.old.plan.backend.get("name"), "new": self.new.plan.backend.get("name")},
                         "notes": [n for n in (self.old.cost_note, self.new.cost_note) if n]}}

    def cost_line(self) -> str:
        old, new = self.old.plan.backend.get("name"), self.new.plan.backend.get("name")
        if self.old.usd is None and self.new.usd is None:
            return f"cost: no charge (backend {old} -> {new})" if old != new else f"cost: no charge (backend {new})"
        notes = "; ".join(n for n in (self.old.cost_note, self.new.cost_note) if n)
        a, b = _usd(self.old.usd), _usd(self.new.usd)
        delta = (self.new.usd or 0.0) - (self.old.usd or 0.0)
        return f"cost (upper bound): {a} -> {b} ({delta:+.2f} USD; backend {old} -> {new})" + (f"; {notes}" if notes else "")

    def to_text(self) -> str:
        lines = [f"plan diff: {self.base} ({self.base_commit[:12]}) -> working tree",
                 f"fingerprint {self.old.plan.fingerprint[:12]} -> {self.new.plan.fingerprint[:12]}", "",
                 "config:" if self.config else "config: no key changed"]
        lines += [f"  {c.describe()}" for c in self.config]
        lines += ["", "steps:"] + [f"  {_step_line(s)}" for s in self.steps] + ["", self.cost_line()]
        return "\n".join(lines) + "\n"

    def to_markdown(self, heading: str = "###") -> str:
        lines = [f"{heading} Config changes against `{self.base}` (`{self.base_commit[:12]}`)", ""]
        if self.config:
            lines += ["| key | old | new |", "|---|---|---|"]
            lines += [f"| `{c.key}` | {_md_value(c.old, c.added)} | {_md_value(c.new, c.removed)} |" for c in self.config]
        else:
            lines.append("No config key changed.")
        lines += ["", f"{heading} Plan", "",
                  f"fingerprint `{self.old.plan.fingerprint[:12]}` -> `{self.new.plan.fingerprint[:12]}`", "",
                  "| step | change | why |", "|---|---|---|"]
        lines += [f"| {s.step} | {s.change} | {_md_cell('; '.join(s.causes))} |" for s in self.steps]
        lines += ["", self.cost_line()]
        return "\n".join(lines) + "\n"


def _usd(value: float | None) -> str:
    return "no charge" if value is None else f"{value:.2f} USD"


def _step_line(s: StepChange) -> str:
    why = f": {'; '.join(s.causes)}" if s.causes else ""
    return f"{s.step:<9} {s.change}{why}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_value(value: Any, absent: bool) -> str:
    return "_(absent)_" if absent else f"`{_md_cell(json.dumps(value, sort_keys=True, ensure_ascii=False))}`"


def _side(project: Project, overrides: Sequence[str]) -> Side:
    """Compose, compile (without loading anything) and price the project's training plan."""
    training = project.training
    _, plain = project.config(overrides)
    if not plain["model"]["name"]:
        plain["model"]["name"] = "model"  # as `tesla plan` does
    plan = training.compile(plain, ingest=False)
    if plan.backend.get("name") == "local":
        return Side(plain, plan, None)
    return Side(plain, plan, *_price(project, plain, plan))


def _price(project: Project, plain: Mapping[str, Any], plan: Plan) -> tuple[float | None, str | None]:
    from tesla.execution import DryRun
    from tesla.execution.cost import CostEstimate, load_prices

    try:
        backend = project.backend(plain)
        if not isinstance(backend, DryRun):
            return 0.0, None
        estimate = CostEstimate.from_dict({"backend": backend.name,
                                           **backend.estimate_cost(plan, load_prices(backend.name,
                                                                                     project_dir=project.root))})
    except TeslaError as exc:
        return None, f"{plan.backend.get('name')} plan not priced: {exc}"
    return estimate.usd, (f"unpriced: {', '.join(estimate.unpriced)}" if estimate.unpriced else None)


def plan_diff(project: Project, ref: str, *, model: str | None = None, framework: str | None = None,
              max_iter: int | None = None, overrides: Sequence[str] = ()) -> PlanDiff:
    """Compile the project at git ref ``ref`` and in the working tree, and compare them in config terms.

    Both sides use the same command-line options and overrides and the working tree's store (the
    store is not in git), so only what is committed differs: ``conf/`` and files such as ``data.source``.

    Raises:
        ProjectError: not a git repository, an unknown ref, or no project at ``ref``.
    """
    from tesla.project import Project

    ov = train_overrides(model, framework, max_iter, overrides)
    with checkout(project.root, ref) as (root, sha):  # the ref is checked before anything is compiled
        new = _side(project, ov)
        try:
            base = Project(root, user=project.user, store=project.store)
        except ProjectNotFoundError as exc:
            raise ProjectError(f"git ref '{ref}' holds no Tesla project: {exc}", key="ref") from exc
        old = _side(base, ov)
    return PlanDiff(ref, sha, old, new, config_changes(old.config, new.config), step_changes(old.plan, new.plan))


# -- the review comment ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataChange:
    """The dataset one side's plan trains on: its label (``name@version`` where known) and content."""

    old: str
    new: str
    old_sha256: str
    new_sha256: str
    rows: tuple[int | None, int | None] = (None, None)
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.old_sha256 != self.new_sha256 or self.old != self.new

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "old_sha256": self.old_sha256, "new_sha256": self.new_sha256,
                "changed": self.changed, "rows": {"old": self.rows[0], "new": self.rows[1]},
                "columns_added": list(self.added), "columns_removed": list(self.removed)}


@dataclass(frozen=True)
class MetricComparison:
    """The working tree's trained model against the one serving production, or why there is none."""

    candidate: str | None  # NAME@V trained from the working tree's plan
    champion: str | None  # NAME@V serving the production profile
    rows_from: str | None  # which rows both were scored on
    deltas: list[Delta] = field(default_factory=list)  # a = the champion, b = the candidate
    note: str | None = None  # why no deltas are shown
    caveat: str | None = None  # what to keep in mind reading the deltas
    rows: int = 0  # how many rows both were scored on
    resamples: int = 0
    level: float = 0.95  # the intervals' coverage

    def to_dict(self) -> dict[str, Any]:
        deltas = [{"metric": d.metric, "candidate": d.b, "champion": d.a, "delta": d.delta, "low": d.low,
                   "high": d.high, "level": self.level, "rows": self.rows, "resamples": self.resamples,
                   "verdict": _verdict(d)} for d in self.deltas]
        return {"candidate": self.candidate, "champion": self.champion, "rows_from": self.rows_from,
                "deltas": deltas, "note": self.note, "caveat": self.caveat}


def _verdict(d: Delta) -> str:
    """The candidate's verdict: ``better`` / ``worse`` when the interval is on one side of 0."""
    return {"b better": "better", "a better": "worse"}.get(d.verdict, "no clear change")


@dataclass(frozen=True)
class Review:
    """One pull-request comment: the plan diff, the data each side trains on, the metric deltas."""

    diff: PlanDiff
    data: DataChange
    metrics: MetricComparison

    def to_dict(self) -> dict[str, Any]:
        return {**self.diff.to_dict(), "data": self.data.to_dict(), "metrics": self.metrics.to_dict()}

    def to_markdown(self) -> str:
        d = self.diff
        head = [f"## Tesla review: `{d.new.plan.name}` against `{d.base}`", "",
                f"{len(d.config)} config key(s) changed · {len(d.invalidated)} of {len(d.steps)} step(s) to run · "
                + d.cost_line(), ""]
        return "\n".join(head) + d.to_markdown() + "\n" + _data_md(self.data) + "\n" + _metrics_md(self.metrics)

    def to_text(self) -> str:
        data = self.data
        lines = [self.diff.to_text().rstrip("\n"), "",
                 f"data: {data.old} ({data.old_sha256[:12]}) -> {data.new} ({data.new_sha256[:12]})"
                 + ("" if data.changed else " (unchanged)")]
        m = self.metrics
        if m.note:
            lines.append(f"metrics: {m.note}")
        for delta in m.deltas:
            lines.append(f"  {delta.metric}: {delta.b:.4f} vs {delta.a:.4f}, delta {delta.delta:+.4f} "
                         f"[{delta.low:+.4f}, {delta.high:+.4f}] {_verdict(delta)}")
        if m.caveat:
            lines.append(f"  {m.caveat}")
        return "\n".join(lines) + "\n"


def _data_md(data: DataChange) -> str:
    lines = ["### Data", "", "| | base | this change |", "|---|---|---|",
             f"| dataset | `{data.old}` | `{data.new}` |",
             f"| sha256 | `{data.old_sha256[:12]}` | `{data.new_sha256[:12]}` |"]
    if data.rows != (None, None):
        lines.append(f"| rows | {_or_dash(data.rows[0])} | {_or_dash(data.rows[1])} |")
    lines.append("")
    lines.append("Same data on both sides." if not data.changed else
                 "The data changes." + (f" Columns added: {', '.join(data.added)}." if data.added else "")
                 + (f" Columns removed: {', '.join(data.removed)}." if data.removed else ""))
    return "\n".join(lines) + "\n"


def _or_dash(value: Any) -> str:
    return "–" if value is None else str(value)


def _metrics_md(m: MetricComparison) -> str:
    lines = ["### Metrics against production", ""]
    if m.note:
        return "\n".join([*lines, m.note]) + "\n"
    level = int(round(m.level * 100))
    lines += [f"candidate `{m.candidate}` vs production `{m.champion}` on the same {m.rows} rows "
              f"({m.rows_from}); {level}% paired bootstrap interval of the delta, {m.resamples} resamples",
              "", "| metric | candidate | production | delta | interval | verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| {d.metric} | {d.b:.4f} | {d.a:.4f} | {d.delta:+.4f} | [{d.low:+.4f}, {d.high:+.4f}] "
              f"| {_verdict(d)} |" for d in m.deltas]
    if m.caveat:
        lines += ["", m.caveat]
    return "\n".join(lines) + "\n"


def _data_change(project: Project, diff: PlanDiff) -> DataChange:
    store = project.store
    a, b = diff.old.plan.step("load"), diff.new.plan.step("load")
    sha_a, sha_b = a.inputs["source"].sha256 or "", b.inputs["source"].sha256 or ""
    va = store.find_dataset_version(a.params["dataset"], sha_a)
    vb = store.find_dataset_version(b.params["dataset"], sha_b)
    label_a = va and f"{va.name}@{va.version}" or str(diff.old.plan.meta.get("dataset"))
    label_b = vb and f"{vb.name}@{vb.version}" or str(diff.new.plan.meta.get("dataset"))
    cols_a, cols_b = set(va.schema) if va else set(), set(vb.schema) if vb else set()
    known = va is not None and vb is not None
    return DataChange(label_a, label_b, sha_a, sha_b, (va and va.rows, vb and vb.rows),
                      tuple(sorted(cols_b - cols_a)) if known else (), tuple(sorted(cols_a - cols_b)) if known else ())


def _evaluation_rows(project: Project, run_id: str) -> tuple[Any, str]:
    """The rows a training run evaluated its model on (its held-out split, or ``evaluation.data``)."""
    from tesla.data import read_table

    store = project.store
    plan = Plan.from_json(store.run(run_id).plan_json)
    step = plan.step("evaluate")
    ref = step.inputs["test"]
    if ref.sha256 is not None:
        sha, label, fmt = ref.sha256, f"evaluation.data {step.params['source']}", step.params["format"]
    else:
        records = {r.step_id: r for r in store.run_steps(run_id)}
        sha, label, fmt = records[ref.step].outputs[ref.output], f"held-out split of run {run_id}", "parquet"
    path = Path(store.artifacts.path(sha))
    if path.is_dir():
        path = next(p for p in sorted(path.rglob("*")) if p.is_file())
    return read_table(path, fmt), label


def _metrics(project: Project, diff: PlanDiff, profile: str, resamples: int) -> MetricComparison:
    store = project.store
    name = diff.new.plan.meta["model"]
    versions = store.model_versions(name)
    candidate = next((mv for mv in reversed(versions) if mv.plan_fingerprint == diff.new.plan.fingerprint), None)
    champion = next((mv for mv in reversed(versions) if mv.stage == profile), None)
    if candidate is None:
        return MetricComparison(None, champion and champion.ref, None,
                                note=f"No training result for this plan yet (`tesla train -m {name}` on this branch "
                                     "records one); no metric deltas.")
    if champion is None:
        return MetricComparison(candidate.ref, None, None,
                                note=f"No version of '{name}' serves '{profile}'; nothing to compare "
                                     f"{candidate.ref} with.")
    if champion.version == candidate.version:
        return MetricComparison(candidate.ref, champion.ref, None,
                                note=f"{candidate.ref} is the version serving '{profile}'; no change to compare.")
    try:
        return _deltas(project, candidate, champion, diff.new.config["evaluation"]["metrics"], resamples)
    except TeslaError as exc:  # the comment still says everything else; this part says why it is missing
        return MetricComparison(candidate.ref, champion.ref, None, note=f"No metric deltas: {exc}")


def _deltas(project: Project, candidate: ModelVersion, champion: ModelVersion, metrics: Sequence[str],
            resamples: int) -> MetricComparison:
    from tesla.evaluation.compare import compare_bundles
    from tesla.models import load_bundle, verified_bundle_dir

    store = project.store
    if not candidate.run_id:
        return MetricComparison(candidate.ref, champion.ref, None,
                                note=f"{candidate.ref} has no recorded run, so its evaluation rows are unknown.")
    rows, label = _evaluation_rows(project, candidate.run_id)
    bundles = [load_bundle(verified_bundle_dir(store.artifacts, mv.bundle_sha, ref=mv.ref), label=mv.ref)
               for mv in (candidate, champion)]
    missing = sorted({f["name"] for f in bundles[1].manifest["signature"]} - set(rows.columns))
    if missing:
        return MetricComparison(candidate.ref, champion.ref, label,
                                note=f"{champion.ref} reads column(s) {', '.join(missing)} that the rows {candidate.ref} "
                                     f"was evaluated on ({label}) lack; set evaluation.data to a labelled file with "
                                     "every column to compare the two.")
    n_rows, deltas = compare_bundles(bundles[1], bundles[0], rows, metrics=metrics, samples=resamples,
                                     names=(champion.ref, candidate.ref))
    caveat = None
    if label.startswith("held-out") and champion.dataset_version != candidate.dataset_version:
        caveat = (f"{champion.ref} was trained on {champion.dataset}@{champion.dataset_version}, so some of these rows "
                  "may be in its training set; set evaluation.data to a held-out file for an unbiased comparison.")
    return MetricComparison(candidate.ref, champion.ref, label, deltas, caveat=caveat, rows=n_rows,
                            resamples=resamples)


def review(project: Project, base: str, *, model: str | None = None, framework: str | None = None,
           max_iter: int | None = None, overrides: Sequence[str] = (), profile: str = "production",
           resamples: int = 1000) -> Review:
    """The pull-request review of the working tree against git ref ``base`` (see the module docstring).

    Args:
        project: the working tree's project.
        base: the git ref to compare with (CI: the pull request's base branch).
        model, framework, max_iter, overrides: as for ``tesla plan``.
        profile: the deploy profile whose serving version is the champion.
        resamples: bootstrap resamples of the metric deltas.
    """
    diff = plan_diff(project, base, model=model, framework=framework, max_iter=max_iter, overrides=overrides)
    return Review(diff, _data_change(project, diff), _metrics(project, diff, profile, resamples))
