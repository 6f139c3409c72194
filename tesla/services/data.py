"""The data service: dataset versions (ingest, listings, log, rollback, profile, diff)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler import DatasetInput, FileInput
from tesla.errors import ConfigError, DataError, DataNotFoundError
from tesla.execution import Event
from tesla.services._common import EventSink, PathLike, input_file
from tesla.store import DatasetVersion, hash_path
from tesla.store.faults import fault_point

if TYPE_CHECKING:
    from tesla.data.ingest import Ingested
    from tesla.project import Project

__all__ = ["DataService", "LoadResult"]


@dataclass
class LoadResult:
    version: DatasetVersion
    created: bool  # False: the same content was already a version
    raw_sha256: str | None = None  # the file as given, when stored too (``keep_raw``)


def _sayer(emit: EventSink) -> Callable[[str], None]:
    return lambda text: emit(Event("message", data={"text": text}))


class DataService:
    """Datasets of one project: every ingested file is an immutable, content-addressed version."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def load(self, data: PathLike | None, name: str, *, target: str | None = None, message: str | None = None,
             keep_raw: bool = False, sql: str | None = None, url: str | None = None, delimiter: str | None = None,
             encoding: str | None = None, on_event: EventSink | None = None) -> LoadResult:
        """Ingest ``data`` as a new immutable version of dataset ``name``, in one streaming pass.

        The file is read batch by batch into a canonical Parquet file (see ``tesla.data.ingest``),
        which is what the version stores and what steps read; its sha256 is the version's. The
        same content again is not a new version (``created`` is False). Nothing is stored when
        the file cannot be read or ``target`` is not one of its columns.

        Args:
            data: a local file (CSV/TSV, Parquet, JSON lines or array, Feather, Excel; compressed too) or a
                URL fsspec opens (``s3://``, ``gs://``, ``https://``); None with ``sql``.
            name: the dataset.
            target: the label column, checked now (``tesla train`` needs it).
            message: a note for the version.
            keep_raw: also store the file as given (``LoadResult.raw_sha256`` names it).
            sql: a query whose rows are the version, run on the database at ``url`` (a SQLAlchemy URL).
            url: the database ``sql`` runs on.
            delimiter: a CSV's separator; None sniffs it.
            encoding: a text file's encoding; None: UTF-8 (or what its byte-order mark says).
            on_event: receives ``message`` events (``{"text"}``) and ``ingest_progress`` events
                (``{"bytes", "total_bytes", "rows"}``) while the file is read.

        Raises:
            DataError: the file cannot be read, or its target cannot be learned from.
        """
        from tesla.data.sources import fetched, is_url

        if not name or any(c in name for c in "/@ ") or not name.isprintable():
            raise DataError(f"dataset name {name!r} may not be empty or hold '/', '@', spaces or control characters",
                            key="name")
        emit = on_event or (lambda _e: None)
        if sql is not None or url is not None:
            if data is not None or not (sql and url):
                raise DataError("a SQL load takes --sql QUERY and --url DATABASE_URL together, without -d FILE",
                                key="sql")
            return self._load_query(sql, url, name, target=target, message=message, emit=emit)
        if data is None:
            raise DataError("nothing to load: pass -d FILE (or a URL), or --sql QUERY --url DATABASE_URL", key="data")
        if is_url(str(data)):
            with fetched(str(data), self.project.store.state_dir) as local:
                emit(Event("message", data={"text": f"fetched {data}"}))
                try:
                    return self._load_file(local, name, str(data), target=target, message=message,
                                           keep_raw=keep_raw, delimiter=delimiter, encoding=encoding, emit=emit)
                except DataError as exc:  # name the URL the user gave, not the temporary copy
                    raise type(exc)(str(exc).replace(str(local), str(data)), key=exc.key) from exc
        path = input_file(data)
        return self._load_file(path, name, str(path), target=target, message=message, keep_raw=keep_raw,
                               delimiter=delimiter, encoding=encoding, emit=emit)

    def _load_file(self, path: Path, name: str, source: str, *, target: str | None, message: str | None,
                   keep_raw: bool, delimiter: str | None, encoding: str | None, emit: EventSink) -> LoadResult:
        from tesla.data.ingest import ingest
        from tesla.steps.data import check_target

        say = _sayer(emit)
        total = path.stat().st_size if path.is_file() else 0
        say(f"reading {path}")

        def read(staged: Path) -> Ingested:
            return ingest(path, staged, target=target, say=say, delimiter=delimiter, encoding=encoding,
                          check_names=(lambda names: check_target(names, target, f"'{path}'")) if target else None,
                          on_progress=lambda done, rows: emit(Event("ingest_progress", data={
                              "bytes": done, "total_bytes": total, "rows": rows})))

        return self._record(name, source, read, target=target, message=message, say=say,
                            raw=path if keep_raw else None)

    def _load_query(self, sql: str, url: str, name: str, *, target: str | None, message: str | None,
                    emit: EventSink) -> LoadResult:
        from tesla.data.ingest import ingest_frame
        from tesla.data.sources import read_query, redacted
        from tesla.steps.data import check_target

        say = _sayer(emit)
        label = f"the query on {redacted(url)}"
        say(f"querying {redacted(url)}")

        def read(staged: Path) -> Ingested:
            return ingest_frame(label, lambda: read_query(sql, url), staged, target=target, say=say,
                                check_names=(lambda names: check_target(names, target, label)) if target else None)

        return self._record(name, f"sql:{redacted(url)}: {sql}", read, target=target, message=message, say=say)

    def _record(self, name: str, source: str, read: Callable[[Path], Ingested], *, target: str | None,
                message: str | None, say: Callable[[str], None], raw: Path | None = None) -> LoadResult:
        """Ingest into a staged file with ``read``; store it as a new version unless the same content is one."""
        store = self.project.store
        with store.artifacts.new_file() as staged:
            found = read(staged)
            for warning in found.warnings + self._held_to(name, staged, found, source, target):
                say(warning)
            existing = store.find_dataset_version(name, found.sha256)
            if existing is not None:
                return LoadResult(existing, created=False)
            say(f"read {found.rows} rows x {len(found.schema)} columns")
            store.artifacts.publish(staged, found.sha256)  # the artifact first: a row never points at a missing file
        raw_sha = store.artifacts.put(raw) if raw is not None else None
        fault_point("load.after_artifact")
        version = store.add_dataset_version(name, sha256=found.sha256, format="parquet", source=source,
                                            rows=found.rows, schema=found.schema, target=target, message=message)
        fault_point("load.after_version")
        return LoadResult(version, created=True, raw_sha256=raw_sha)

    def _held_to(self, name: str, staged: Path, found: Ingested, source: str, target: str | None) -> list[str]:
        """Enforce ``conf/data/NAME.yaml`` (refusing), else report schema changes against the current version;
        then the column warnings (leakage, index, constant). Returns the lines to show."""
        from tesla.data.expect import column_warnings, declaration, enforce, schema_changes

        store = self.project.store
        current = store.dataset_version(name) if name in store.dataset_names() else None
        declared = declaration(self.project.root, name)
        where = source if source.startswith("sql:") else f"'{source}'"
        if declared is not None:
            lines = enforce(staged, found.schema, found.rows, declared[0], where, declared[1])
        elif current is not None:
            lines = [f"schema change from {name}@{current.version}: {change}"
                     for change in schema_changes(current.schema, found.schema)]
        else:
            lines = []
        label = target or (current.target if current is not None else None)
        return lines + column_warnings(staged, found.schema, label if label in found.schema else None)

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
