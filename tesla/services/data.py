"""The data service: dataset versions (ingest, listings, log, rollback, show, diff, tag, export, gc)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler import DatasetInput, FileInput
from tesla.data.diff import RowDiff
from tesla.errors import ConfigError, DataError, DataNotFoundError
from tesla.execution import Event
from tesla.report.profile import DataProfile  # light (no pandas): the REST layer rebuilds it by annotation
from tesla.services._common import EventSink, PathLike, frame_file, input_file, is_frame
from tesla.store import DatasetVersion, hash_path
from tesla.store.faults import fault_point

if TYPE_CHECKING:
    from tesla.data.ingest import Ingested
    from tesla.project import Project

__all__ = ["DataService", "declaration", "DatasetDetail", "DatasetDiff", "ExportResult", "GcResult", "LoadResult", "TagResult"]


@dataclass
class LoadResult:
    version: DatasetVersion
    created: bool  # False: the same content was already a version
    raw_sha256: str | None = None  # the file as given, when stored too (``keep_raw``)

    def _repr_html_(self) -> str:
        note = "" if self.created else "<p class='muted'>the same content was already this version</p>"
        return self.version._repr_html_() + note


@dataclass
class DatasetDiff:
    """``tesla data diff``: the columns and the rows that changed between two versions."""

    dataset: str
    old: int
    new: int
    rows_old: int
    rows_new: int
    added_columns: list[str]
    removed_columns: list[str]
    retyped: dict[str, str]  # column -> "old type -> new type"
    same_content: bool
    rows: RowDiff


@dataclass
class DatasetDetail:
    """``tesla data show``: one version and what refers to it."""

    version: DatasetVersion
    current: bool
    tags: list[str]
    models: list[str]  # NAME@V of the model versions trained on it


@dataclass
class TagResult:
    dataset: str
    version: int
    tag: str
    moved_from: int | None  # the version the tag named before, when it moved


@dataclass
class ExportResult:
    dataset: str
    version: int
    path: Path
    rows: int
    format: str  # csv | parquet


@dataclass
class GcResult:
    """``tesla data gc``: the versions deleted (or that would be, ``dry_run``) and why the others stay."""

    removed: list[str]  # NAME@V
    kept: dict[str, str]  # NAME@V -> why (current, newest, tag T, model M@V, deployment of M@V, ...)
    freed_bytes: int
    files: int  # stored files deleted
    dry_run: bool


_EXPORTS = (".csv", ".parquet")


def _write_csv(parquet: Path, path: Path) -> None:
    """The stored Parquet file as CSV, one row group at a time (memory: one row group)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    source = pq.ParquetFile(parquet)
    with pcsv.CSVWriter(str(path), source.schema_arrow) as writer:
        for group in range(source.num_row_groups):
            writer.write_table(source.read_row_group(group))


_OTHER_COLUMNS = ("refuse", "warn", "allow")


def declaration(root: Path, name: str) -> tuple[dict[str, Any], str] | None:
    """The declared ``schema`` and ``expect`` of dataset ``name``: ``conf/data/NAME.yaml`` in the project.

    Returns:
        The file's data section as plain data (``schema``, ``expect``, ...) and its path relative to
        ``root``; None when there is no such file or it declares neither.

    Raises:
        ConfigError: the file is not valid YAML, has an unknown key or a value of the wrong type,
            naming the file and the dotted key.
    """
    path = root / "conf" / "data" / f"{name}.yaml"
    if not path.is_file():
        return None
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from tesla.config.schema import DataConfig, ExpectConfig
    from tesla.data.schema import COLUMN_TYPES

    rel = str(path.relative_to(root))
    try:
        raw = OmegaConf.load(path)
        if "defaults" in raw:
            raw.pop("defaults")
        plain = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(DataConfig), raw), resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        reason = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{rel}: {reason}" + (f" (key data.{key})" if key else ""), key=f"data.{key}") from exc
    except Exception as exc:  # yaml's scanner and parser errors
        raise ConfigError(f"{rel} is not valid YAML: {' '.join(str(exc).split())}", key=rel) from exc
    assert isinstance(plain, dict)
    for column, rules in plain["schema"].items():
        if rules["type"] is not None and rules["type"] not in COLUMN_TYPES:
            raise ConfigError(f"{rel}: data.schema.{column}.type is '{rules['type']}'; allowed: "
                              f"{', '.join(COLUMN_TYPES)}", key=f"data.schema.{column}.type")
    if plain["expect"]["other_columns"] not in _OTHER_COLUMNS:
        raise ConfigError(f"{rel}: data.expect.other_columns is '{plain['expect']['other_columns']}'; allowed: "
                          f"{', '.join(_OTHER_COLUMNS)}", key="data.expect.other_columns")
    if not plain["schema"] and plain["expect"] == dataclasses.asdict(ExpectConfig()):
        return None
    return plain, rel


def _sayer(emit: EventSink) -> Callable[[str], None]:
    return lambda text: emit(Event("message", data={"text": text}))


class DataService:
    """Datasets of one project: every ingested file is an immutable, content-addressed version."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def load(self, data: PathLike | Any | None, name: str, *, target: str | None = None, message: str | None = None,
             keep_raw: bool = False, sql: str | None = None, url: str | None = None, delimiter: str | None = None,
             encoding: str | None = None, on_event: EventSink | None = None) -> LoadResult:
        """Ingest ``data`` as a new immutable version of dataset ``name``, in one streaming pass.

        The file is read batch by batch into a canonical Parquet file (see ``tesla.data.ingest``),
        which is what the version stores and what steps read; its sha256 is the version's. The
        same content again is not a new version (``created`` is False). Nothing is stored when
        the file cannot be read or ``target`` is not one of its columns.

        Args:
            data: a local file (CSV/TSV, Parquet, JSON lines or array, Feather, Excel; compressed too), a
                URL fsspec opens (``s3://``, ``gs://``, ``https://``), or a pandas DataFrame (ingested as the
                Parquet file of its rows, index dropped); None with ``sql``.
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
        if is_frame(data):  # a notebook's DataFrame takes the file path, as a Parquet file of the same rows
            with frame_file(data, self.project.store.state_dir, f"{name}.parquet") as staged:
                try:
                    return self._load_file(staged, name, "DataFrame", target=target, message=message,
                                           keep_raw=keep_raw, delimiter=None, encoding=None, emit=emit)
                except DataError as exc:  # name the caller's DataFrame, not its temporary file
                    named = str(exc).replace(f"'{staged}'", "the DataFrame").replace(str(staged), "the DataFrame")
                    raise type(exc)(named, key="data") from exc
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
        from tesla.data.expect import column_warnings, enforce, schema_changes

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

    def diff(self, name: str, old: int | str, new: int | str, *, key: list[str] | None = None) -> DatasetDiff:
        """What changed between two versions (numbers or tags) of a dataset: columns, then rows.

        Rows are matched by ``key`` (default: the declared ``data.expect.key``), else by row hash;
        see ``tesla.data.diff``. Both versions are read whole.

        Raises:
            DataNotFoundError: a version or tag does not exist.
            DataError: a key column is missing, or does not identify rows.
        """
        import pyarrow.parquet as pq

        from tesla.data.diff import diff_rows

        a, b = self._version_of(name, old), self._version_of(name, new)
        if key is None:
            declared = declaration(self.project.root, name)
            key = list(declared[0]["expect"]["key"]) if declared else []
        store = self.project.store
        if a.sha256 == b.sha256:
            from tesla.data.diff import RowDiff

            rows = RowDiff(key=list(key), added=0, removed=0, changed=0 if key else None, unchanged=b.rows)
        else:
            frames = [pq.read_table(store.artifacts.verify(v.sha256, label=f"{name}@{v.version}")).to_pandas()
                      for v in (a, b)]
            rows = diff_rows(frames[0], frames[1], list(key), (f"{name}@{a.version}", f"{name}@{b.version}"))
        retyped = {c: f"{a.schema[c]['type']} -> {b.schema[c]['type']}" for c in sorted(set(a.schema) & set(b.schema))
                   if a.schema[c]["type"] != b.schema[c]["type"]}
        return DatasetDiff(dataset=name, old=a.version, new=b.version, rows_old=a.rows, rows_new=b.rows,
                           added_columns=[c for c in b.schema if c not in a.schema],
                           removed_columns=[c for c in a.schema if c not in b.schema], retyped=retyped,
                           same_content=a.sha256 == b.sha256, rows=rows)

    def show(self, ref: str) -> DatasetDetail:
        """One version (``NAME``, ``NAME@V`` or ``NAME@TAG``): its record, tags and the models trained on it."""
        name, version = self.parse_ref(ref)
        v = self._version_of(name, version)
        store = self.project.store
        tags = [tag for _, tag, tv in store.dataset_tags(name) if tv == v.version]
        models = [m.ref for m in store.model_versions() if m.dataset == name and m.dataset_version == v.version]
        return DatasetDetail(version=v, current=store.dataset_version(name).version == v.version, tags=tags,
                             models=models)

    def tag(self, ref: str, tag: str) -> TagResult:
        """Name version ``ref`` (``NAME@V``) ``tag``; a tag already on another version moves (and says so)."""
        name, version = self.parse_ref(ref)
        if not tag or tag.isdigit() or any(c in tag for c in "/@ ") or not tag.isprintable():
            raise DataError(f"tag {tag!r} must be a word that is not a number and holds no '/', '@' or spaces "
                            "(e.g. v1-clean)", key="tag")
        v = self._version_of(name, version)
        moved = self.project.store.tag_dataset_version(name, v.version, tag)
        return TagResult(dataset=name, version=v.version, tag=tag, moved_from=moved if moved != v.version else None)

    def export(self, ref: str, output: PathLike) -> ExportResult:
        """Write version ``ref`` out as a file: ``.parquet`` (the stored bytes) or ``.csv`` (streamed)."""
        import shutil

        from tesla.services._common import output_file

        name, version = self.parse_ref(ref)
        v = self._version_of(name, version)
        path = output_file(output)
        suffix = path.suffix.lower()
        if suffix not in _EXPORTS:
            raise DataError(f"cannot export to '{path}': name a file ending in {', '.join(_EXPORTS)}", key="output")
        stored = self.project.store.artifacts.verify(v.sha256, label=f"{name}@{v.version}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            shutil.copyfile(stored, path)
        else:
            _write_csv(stored, path)
        return ExportResult(dataset=name, version=v.version, path=path, rows=v.rows, format=suffix[1:])

    def gc(self, *, dry_run: bool = False) -> GcResult:
        """Delete dataset versions nothing refers to, and their stored files.

        Kept: the current version, the newest one (its number is never reused), a tagged one, one a
        model was trained on (deployed or not), and one a running run reads.
        """
        store = self.project.store
        keep = self._referenced()
        removed, freed, files = [], 0, 0
        for name in store.dataset_names():
            for v in store.dataset_log(name):
                if (name, v.version) in keep:
                    continue
                removed.append(f"{name}@{v.version}")
                if not dry_run:
                    store.delete_dataset_version(name, v.version)
                    if v.sha256 not in store.dataset_shas_in_use():
                        freed += store.artifacts.remove(v.sha256)
                        files += 1
        kept = {f"{n}@{v}": why for (n, v), why in sorted(keep.items())}
        return GcResult(removed=removed, kept=kept, freed_bytes=freed, files=files, dry_run=dry_run)

    def _referenced(self) -> dict[tuple[str, int], str]:
        """(dataset, version) -> why ``gc`` keeps it."""
        store = self.project.store
        keep: dict[tuple[str, int], str] = {}
        running = [r.plan_json for r in store.runs(limit=1_000_000) if r.status == "running"]
        for name in store.dataset_names():
            log = store.dataset_log(name)
            for v in log:
                if any(v.sha256 in plan for plan in running):
                    keep[(name, v.version)] = "read by a running run"
            keep[(name, log[0].version)] = "newest"
            keep[(name, store.dataset_version(name).version)] = "current"
        for name, tag, version in store.dataset_tags():
            keep[(name, version)] = f"tag {tag}"
        trained = {m.ref: m for m in store.model_versions() if m.dataset and m.dataset_version is not None}
        for m in trained.values():
            keep[(m.dataset, m.dataset_version)] = f"model {m.ref}"  # type: ignore[index]
        for d in store.deployments():
            m = trained.get(f"{d.model}@{d.version}")
            if m is not None and d.status in ("starting", "running"):
                keep[(m.dataset, m.dataset_version)] = f"deployment of {m.ref}"  # type: ignore[index]
        return keep

    @staticmethod
    def parse_ref(ref: str) -> tuple[str, str | None]:
        """``"bc@2"`` -> ("bc", "2"); ``"bc@clean"`` -> ("bc", "clean"); ``"bc"`` -> ("bc", None)."""
        name, at, version = ref.partition("@")
        if not name or (at and not version):
            raise DataError(f"dataset reference '{ref}' must be NAME, NAME@VERSION or NAME@TAG (e.g. bc@2)",
                            key="dataset")
        return name, version or None

    def _version_of(self, name: str, version: int | str | None) -> DatasetVersion:
        """A version by number or tag (None: the current one)."""
        store = self.project.store
        if version is None or isinstance(version, int) or version.isdigit():
            return store.dataset_version(name, None if version is None else int(version))
        store.dataset_version(name)  # no such dataset: the store's message
        tags = {tag: v for _, tag, v in store.dataset_tags(name)}
        if version not in tags:
            known = f"; its tags: {', '.join(tags)}" if tags else "; it has no tags (tesla data tag NAME@V TAG)"
            raise DataNotFoundError(f"dataset '{name}' has no version or tag '{version}'{known}", key="data.version")
        return store.dataset_version(name, tags[version])

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
        """The dataset version a composed config trains on (``data.source`` is loaded first when ``ingest``).

        A ``data.source`` file gives the same ``DatasetInput`` whether it is loaded (``tesla train``) or
        only previewed (``tesla plan``, in a fresh clone with no ``.tesla/``): the canonical Parquet sha256
        ingest computes, format ``parquet``, and no pinned version (see ``DatasetInput``). So the same
        file gives the same fingerprints on any machine, whatever its store holds.
        """
        data = plain["data"]
        if data["source"]:
            source = Path(data["source"])
            if not source.is_absolute():
                source = self.project.root / source
            name = data["dataset"] or source.stem
            if ingest:
                version = self.load(source, name, target=data["target"]).version
                # data.target, not the target a store recorded for the name: the preview cannot know that one
                return DatasetInput(name, None, version.sha256, version.format, data["target"],
                                    recorded_version=version.version)
            if not source.exists():
                raise DataNotFoundError(f"data.source '{source}' does not exist; check the path", key="data.source")
            return DatasetInput(name, None, self.content_sha256(source, data["target"]), "parquet", data["target"])
        store = self.project.store
        name = data["dataset"] or self._only_dataset()
        version = store.dataset_version(name, data["version"])
        return DatasetInput(name, version.version, version.sha256, version.format, version.target)

    def content_sha256(self, source: Path, target: str | None) -> str:
        """The sha256 ``load`` would give ``source`` (its canonical Parquet bytes), storing nothing."""
        import tempfile

        from tesla.data.ingest import ingest
        from tesla.steps.data import check_target

        with tempfile.TemporaryDirectory(prefix="tesla-preview-") as tmp:
            found = ingest(source, Path(tmp) / "data.parquet", target=target,
                           check_names=(lambda names: check_target(names, target, f"'{source}'")) if target else None)
        return found.sha256

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
