"""Ground truth from a file: ``tesla monitor feedback -m NAME -d labels.csv``.

The file has a ``request_id`` column, a ``label`` column (or one named like the model's
target) and optionally ``row`` (the row within the request, default 0). Labels are checked
against the model before anything is written, then appended to the deployment's
``feedback.jsonl``, the same file the server's ``POST /feedback`` appends to.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.errors import DataError, DataNotFoundError
from tesla.monitor.captures import FEEDBACK, append_feedback, capture_dir, read_captures
from tesla.monitor.monitor import choose_profile
from tesla.monitor.results import FeedbackResult

if TYPE_CHECKING:
    import pandas as pd

    from tesla.store import ModelVersion, Store

__all__ = ["FeedbackResult", "read_labels", "record_feedback"]


def _frame(path: Path) -> pd.DataFrame:
    import pandas as pd

    from tesla.data import detect_format, read_table

    df = read_table(path)
    fmt = detect_format(path)
    if fmt in {"csv", "tsv"} and "request_id" in df.columns:
        # ids like "0042" or "1e3" must stay text; read_table would turn them into numbers
        df["request_id"] = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", usecols=["request_id"],
                                       dtype={"request_id": str})["request_id"]
    return df


def read_labels(path: Path, *, target: str, task: str, classes: list[Any] | None) -> list[dict[str, Any]]:
    """Rows ``{request_id, row, label}`` of a labels file, checked against the model.

    Raises:
        DataError: a column is missing, a label is empty, or a label is not one of ``classes``.
    """
    df = _frame(path)
    label = "label" if "label" in df.columns else target if target in df.columns else None
    if "request_id" not in df.columns or label is None:
        raise DataError(f"labels file '{path}' needs columns request_id and label (or '{target}'), optionally row; "
                        f"it has {', '.join(df.columns)}", key=str(path))
    if df[label].isna().any() or df["request_id"].isna().any():
        line = int(df.index[df[label].isna() | df["request_id"].isna()][0]) + 2  # 1-based, after the header
        raise DataError(f"labels file '{path}' line {line} has an empty request_id or label", key=str(path))
    rows = df["row"] if "row" in df.columns else None
    labels = _checked_labels(df[label], path, task, classes)
    return [{"request_id": str(rid), "row": int(rows.iloc[i]) if rows is not None else 0, "label": lab}
            for i, (rid, lab) in enumerate(zip(df["request_id"].tolist(), labels))]


def _checked_labels(values: pd.Series, path: Path, task: str, classes: list[Any] | None) -> list[Any]:
    import pandas as pd

    if task == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = values[numbers.isna()].iloc[0]
            raise DataError(f"labels file '{path}' has label {bad!r}; this regression model needs numbers",
                            key=str(path))
        return numbers.astype(float).tolist()
    known = {str(c): c for c in classes or []}
    texts = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values.tolist()]
    unknown = sorted({t for t in texts if t not in known})
    if unknown:
        raise DataError(f"labels file '{path}' has label(s) {', '.join(map(repr, unknown[:5]))} the model does not "
                        f"know; its classes: {', '.join(map(repr, known))}", key=str(path))
    return [known[t] for t in texts]


def record_feedback(store: Store, mv: ModelVersion, path: Path, *, profile: str | None) -> FeedbackResult:
    """Append the labels in ``path`` to the feedback of ``mv``'s deployment on ``profile``.

    Raises:
        DataNotFoundError: the model has no captured predictions on that profile.
        DataError: the labels file is malformed (nothing is written then).
    """
    from tesla.models import read_manifest

    chosen = choose_profile(store.state_dir, mv.name, profile)
    directory = capture_dir(store.state_dir, mv.name, chosen)
    if not directory.is_dir():
        raise DataNotFoundError(f"no captured predictions for '{mv.name}' on profile '{chosen}' (looked in "
                                f"{directory}); deploy it with deploy.data_capture=true first", key=str(directory))
    manifest = read_manifest(store.artifacts.path(mv.bundle_sha))
    rows = read_labels(Path(path), target=manifest["target"], task=manifest["task"], classes=manifest.get("classes"))
    captured = read_captures(directory).predictions
    keys = set(zip(captured["request_id"], captured["row"]))
    matched = sum((r["request_id"], r["row"]) in keys for r in rows)
    recorded = append_feedback(directory, rows)
    return FeedbackResult(model=mv.ref, profile=chosen, path=directory / FEEDBACK, recorded=recorded, matched=matched)
