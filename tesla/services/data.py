"""The data service: dataset versions (ingest, listings, log, rollback, profile, diff)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler import DatasetInput, FileInput
from tesla.errors import ConfigError, DataError, DataNotFoundError
from tesla.execution import Event
from tesla.report.profile import DataProfile  # light (no pandas): the REST layer rebuilds it by annotation
from tesla.services._common import EventSink, PathLike, input_file
from tesla.store import DatasetVersion, hash_path
from tesla.store.faults import fault_point

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["DataService", "LoadResult"]


@dataclass
class LoadResult:
    version: DatasetVersion
    created: bool  # False: the same content was already a version
    raw_sha256: str | None = None  # the file as given, when stored too (``keep_raw``)


class DataService:
    """Datasets of one project: every ingested file is an immutable, content-addressed version."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def load(self, data: PathLike, name: str, *, target: str | None = None, message: str | None = None,
             keep_raw: bool = False, on_event: EventSink | None = None) -> LoadResult:
        """Ingest ``data`` as a new immutable version of dataset ``name``, in one streaming pass.

        The file is read batch by batch into a canonical Parquet file (see ``tesla.data.ingest``),
        which is what the version stores and what steps read; its sha256 is the version's. The
        same content again is not a new version (``created`` is False). Nothing is stored when
        the file cannot be read or ``target`` is not one of its columns.

        Args:
            data: a CSV, TSV, Parquet or JSON-lines file.
            name: the dataset.
            target: the label column, checked now (``tesla train`` needs it).
            message: a note for the version.
            keep_raw: also store the file as given (``LoadResult.raw_sha256`` names it).
            on_event: receives ``message`` events (``{"text"}``) and ``ingest_progress`` events
                (``{"bytes", "total_bytes", "rows"}``) while the file is read.

        Raises:
            DataError: the file cannot be read, or its target cannot be learned from.
        """
        from tesla.data.ingest import ingest
        from tesla.steps.data import check_target

        if not name or any(c in name for c in "/@ ") or not name.isprintable():
            raise DataError(f"dataset name {name!r} may not be empty or hold '/', '@', spaces or control characters",
                            key="name")
        path = input_file(data)
        emit = on_event or (lambda _e: None)
        say = lambda text: emit(Event("message", data={"text": text}))  # noqa: E731
        total = path.stat().st_size if path.is_file() else 0
        say(f"reading {path}")
        store = self.project.store
        with store.artifacts.new_file() as staged:
            found = ingest(path, staged, target=target, say=say,
                           check_names=(lambda names: check_target(names, target, f"'{path}'")) if target else None,
                           on_progress=lambda done, rows: emit(Event("ingest_progress", data={
                               "bytes": done, "total_bytes": total, "rows": rows})))
            for warning in found.warnings:
                say(warning)
            existing = store.find_dataset_version(name, found.sha256)
            if existing is not None:
                return LoadResult(existing, created=False)
            say(f"read {found.rows} rows x {len(found.schema)} columns")
            store.artifacts.publish(staged, found.sha256)  # the artifact first: a row never points at a missing file
        raw = store.artifacts.put(path) if keep_raw else None
        fault_point("load.after_artifact")
        version = store.add_dataset_version(name, sha256=found.sha256, format="parquet", source=str(path),
                                            rows=found.rows, schema=found.schema, target=target, message=message)
        fault_point("load.after_version")
        return LoadResult(version, created=True, raw_sha256=raw)

    def diff(self, name: str, old: int, new: int) -> dict[str, Any]:
        """What changed between two versions of a dataset: rows, and added, removed or retyped columns."""
        store = self.project.store
        a, b = store.dataset_version(name, old), store.dataset_version(name, new)
        retyped = {c: f"{a.schema[c]['type']} -> {b.schema[c]['type']}" for c in sorted(set(a.schema) & set(b.schema))
                   if a.schema[c]["type"] != b.schema[c]["type"]}
        return {"dataset": name, "old": old, "new": new, "rows": {"old": a.rows, "new": b.rows},
                "added": sorted(set(b.schema) - set(a.schema)), "removed": sorted(set(a.schema) - set(b.schema)),
                "retyped": retyped, "same_content": a.sha256 == b.sha256}

    # -- listings -----------------------------------------------------------------------------------
    def datasets(self) -> list[DatasetVersion]:
        """The current version of every dataset, by name."""
        store = self.project.store
        return [store.dataset_version(name) for name in store.dataset_names()]

    def version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version of a dataset; default: its current one (what ``tesla data profile`` shows)."""
        return self.project.store.dataset_version(name, version)

    def profile(self, name: str, version: int | None = None) -> DataProfile:
        """``tesla data profile``: distributions, missing values, associations, target, duplicates, warnings.

        The HTML report is stored as an artifact under a name of its own (``report_path``).
        """
        from tesla.data import read_table
        from tesla.report.files import keep_report
        from tesla.report.profile import profile_frame

        store = self.project.store
        v = store.dataset_version(name, version)
        prof = profile_frame(read_table(store.artifacts.path(v.sha256), v.format), name=f"{name}@{v.version}",
                             target=v.target, kinds={c: f.get("type", "") for c, f in v.schema.items()})
        prof.report_path = str(keep_report(store, prof.report_html, "profile", f"{name}-v{v.version}")[1])
        return prof

    def log(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, newest first."""
        return self.project.store.dataset_log(name)

    def rollback(self, name: str, version: int) -> DatasetVersion:
        """Make an earlier version current again (nothing is deleted)."""
        return self.project.store.set_current_dataset_version(name, version)

    # -- what the training and evaluation plans read ---------------------------------------------------
    def resolve(self, plain: Mapping[str, Any], *, ingest: bool) -> DatasetInput:
        """The dataset version a composed config trains on (``data.source`` is loaded first when ``ingest``)."""
        data = plain["data"]
        if data["source"]:
            source = Path(data["source"])
            if not source.is_absolute():
                source = self.project.root / source
            name = data["dataset"] or source.stem
            if ingest:
                version = self.load(source, name, target=data["target"]).version
                return DatasetInput(name, version.version, version.sha256, version.format, version.target)
            from tesla.data import detect_format

            if not source.exists():
                raise DataNotFoundError(f"data.source '{source}' does not exist; check the path", key="data.source")
            return DatasetInput(name, 0, hash_path(source), detect_format(source), data["target"])
        store = self.project.store
        name = data["dataset"] or self._only_dataset()
        version = store.dataset_version(name, data["version"])
        return DatasetInput(name, version.version, version.sha256, version.format, version.target)

    def _only_dataset(self) -> str:
        names = self.project.store.dataset_names()
        if not names:
            raise DataNotFoundError("the project has no dataset yet; load one with "
                                    "`tesla load -d FILE -o NAME --target COLUMN` or set data.source=FILE",
                                    key="data.dataset")
        if len(names) > 1:
            raise ConfigError(f"the project has {len(names)} datasets ({', '.join(names)}); choose one with "
                              f"data.dataset=NAME", key="data.dataset")
        return names[0]

    def stage_file(self, path: str | None, key: str, *, put: bool) -> FileInput | None:
        """A file a plan reads (``evaluation.data``, ``-d``), checked readable; stored when ``put``."""
        if not path:
            return None
        from tesla.data import detect_format, read_table

        source = Path(path) if Path(path).is_absolute() else self.project.root / path
        if not source.exists():
            raise DataNotFoundError(f"{key} file '{path}' does not exist; check the path", key=key)
        read_table(source)  # fail now, with the file named, rather than inside a step
        sha = self.project.store.artifacts.put(source) if put else hash_path(source)
        return FileInput(sha256=sha, format=detect_format(source), label=source.name)
