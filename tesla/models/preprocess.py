"""Preprocessing that travels inside every model bundle, stored as plain JSON.

Raw rows (as a user, a CSV or a REST request gives them) become an all-numeric frame:
numerics are imputed with the training median, booleans become 0/1, categoricals are
one-hot encoded (few categories) or ordinal-coded by training frequency (many), or, with
``native``, all coded by frequency for LightGBM to split on as categories, datetimes
become calendar parts, text becomes its length and word count. Because the state is
JSON, loading a bundle never executes code, and every framework shares the same
transform, so ``predict``, ``evaluate`` and the server see identical features.

Values follow ``tesla.data.schema``'s rules: ``inf``/``-inf`` in a numeric feature is missing
(imputed), datetimes are parsed to UTC. Column names are the users' and may hold anything;
the estimator sees ``model_columns``, the same names made safe for every learner (LightGBM
refuses ``"`` ``,`` ``:`` ``[`` ``]`` ``{`` ``}`` and newlines, XGBoost ``[`` ``]`` ``<``,
and both refuse duplicates), while ``output_columns`` keeps the readable names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tesla.data.schema import parse_datetimes
from tesla.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CompiledPreprocessor", "Fallback", "Preprocessor", "model_column_names"]

ONEHOT_MAX = 15  # categoricals with at most this many categories are one-hot encoded
_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}
# A date becomes its position in time (days since 1970, one ordinal: trends) plus the two
# seasonal parts; the hour only when the training column holds times. Year/day-of-month
# parts made trees overfit dates without signal (benchmarks/automl: churn).
_DATE_PARTS = ("days", "month", "day_of_week")
# characters some learner refuses in a feature name (LightGBM's JSON model text, XGBoost's
# feature maps), and control characters: each becomes "_"
_UNSAFE = re.compile(r'[",:\[\]{}<>\x00-\x1f\x7f]')


def model_column_names(names: list[str]) -> list[str]:
    """``names`` made safe and unique for every learner; a name already safe is kept as it is.

    LightGBM also turns whitespace into "_" itself, so uniqueness is checked on that form.
    """
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        safe = _UNSAFE.sub("_", name) or "_"
        candidate, n = safe, 1
        while re.sub(r"\s", "_", candidate) in seen:
            n += 1
            candidate = f"{safe}__{n}"
        seen.add(re.sub(r"\s", "_", candidate))
        out.append(candidate)
    return out


def _finite(values: Any, fill: float) -> Any:
    """Float values with NaN and ±inf replaced by ``fill`` (inf counts as missing)."""
    import numpy as np

    values = np.asarray(values, dtype="float64")
    return np.where(np.isfinite(values), values, fill)


def _to_bool(series: pd.Series, fill: float) -> pd.Series:
    text = series.astype("string").str.lower()
    out = text.map(lambda v: 1.0 if v in _TRUE else (0.0 if v in _FALSE else None),
                   na_action="ignore").astype("float64")
    return out.fillna(fill)


def _feature_state(name: str, col: pd.Series, kind: str, onehot_max: int = ONEHOT_MAX,
                   native: bool = False) -> dict[str, Any]:
    import pandas as pd

    state: dict[str, Any] = {"name": name, "type": kind, "dtype": str(col.dtype),
                             "nullable": bool(col.isna().any())}
    if kind == "numeric":
        import numpy as np

        median = pd.to_numeric(col, errors="coerce").replace([np.inf, -np.inf], np.nan).median()
        state["fill"] = 0.0 if pd.isna(median) else float(median)
    elif kind == "boolean":
        mode = _to_bool(col, float("nan")).mode()
        state["fill"] = float(mode.iloc[0]) if len(mode) else 0.0
        state["categories"] = sorted(col.dropna().astype(str).unique().tolist())
    elif kind == "categorical":
        counts = col.dropna().astype(str).value_counts()
        # order by frequency, then name: deterministic codes for ordinal encoding
        cats = sorted(counts.index.tolist(), key=lambda c: (-int(counts[c]), c))
        state["categories"] = cats
        state["encoding"] = "native" if native else "onehot" if len(cats) <= onehot_max else "ordinal"
    elif kind == "datetime":
        when = parse_datetimes(col)
        has_time = bool((when.dropna() != when.dropna().dt.normalize()).any())
        state["parts"] = [*_DATE_PARTS, *(["hour"] if has_time else [])]
    return state


def _date_part(when: pd.Series, part: str) -> Any:
    import pandas as pd

    if part == "days":
        if when.dt.tz is not None:
            when = when.dt.tz_convert(None)
        return ((when - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).astype("float64").fillna(-1).to_numpy()
    return getattr(when.dt, part).astype("float64").fillna(-1).to_numpy()


@dataclass
class Preprocessor:
    """Fitted, JSON-serialisable raw-row -> numeric-frame transform."""

    features: list[dict[str, Any]]

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: Mapping[str, Mapping[str, Any]], *,
            onehot_max: int = ONEHOT_MAX, native: bool = False) -> Preprocessor:
        """Learn fills and category lists from training rows ``df`` (features only).

        ``onehot_max``: categoricals with at most this many categories are one-hot encoded, the others
        ordinal-coded by training frequency (0: ordinal codes only, the narrowest frame for trees).
        ``native``: every categorical becomes one column of codes by training frequency, with missing and
        unseen values as one more code (``len(categories)``, never negative: LightGBM reads a negative
        category as missing and warns); ``native_columns`` names them for LightGBM (``onehot_max`` unused).
        """
        return cls([_feature_state(name, df[name], schema[name]["type"], onehot_max, native) for name in df.columns])

    @property
    def input_columns(self) -> list[str]:
        return [f["name"] for f in self.features]

    @property
    def output_columns(self) -> list[str]:
        """The readable names of the encoded columns (reports, importances)."""
        cols: list[str] = []
        for f in self.features:
            cols += self._output_names(f)
        return cols

    @property
    def model_columns(self) -> list[str]:
        """``output_columns`` as the estimator sees them: safe and unique for every learner."""
        return model_column_names(self.output_columns)

    @property
    def column_sources(self) -> list[str]:
        """The raw column each of ``model_columns`` comes from, in their order (a one-hot group, a date's
        parts or a text's counts name one raw column several times)."""
        return [f["name"] for f in self.features for _ in self._output_names(f)]

    @property
    def native_columns(self) -> list[int]:
        """Positions in ``model_columns`` of the categoricals coded for a learner's own category splits."""
        at, found = 0, []
        for f in self.features:
            if f["type"] == "categorical" and f["encoding"] == "native":
                found.append(at)
            at += len(self._output_names(f))
        return found

    @staticmethod
    def _output_names(f: Mapping[str, Any]) -> list[str]:
        if f["type"] == "categorical" and f["encoding"] == "onehot":
            return [f"{f['name']}={c}" for c in f["categories"]]
        if f["type"] == "datetime":
            return [f"{f['name']}.{p}" for p in f.get("parts", _DATE_PARTS)]
        if f["type"] == "text":
            return [f"{f['name']}.n_chars", f"{f['name']}.n_words"]
        return [f["name"]]

    def transform(self, df: pd.DataFrame, *, unseen: str = "error") -> pd.DataFrame:
        """Numeric frame for ``df``; ``unseen`` is ``error`` or ``unknown`` for new categories."""
        import numpy as np
        import pandas as pd

        missing = [c for c in self.input_columns if c not in df.columns]
        if missing:
            raise DataError(f"missing column(s) {', '.join(repr(c) for c in missing)}; the model was "
                            f"trained on: {', '.join(self.input_columns)}", key=missing[0])
        fast = self._all_numeric(df)
        if fast is not None:
            return fast
        # by position, not by name: two users' names may encode to the same output name ("a=b" and a=b)
        parts = [part for f in self.features for part in self._encode(f, df[f["name"]], unseen)]
        # one 2-D float block: building the frame column by column costs ~0.4 ms per request in serving
        matrix = (np.column_stack([np.asarray(p, dtype="float64") for p in parts]) if parts
                  else np.empty((len(df), 0)))
        return pd.DataFrame(matrix, index=df.index, columns=self.model_columns)

    def _all_numeric(self, df: pd.DataFrame) -> pd.DataFrame | None:
        """The same result as the per-column path when every feature is numeric, as one array operation
        (a served request would otherwise pay ~40 us per column); None: use the per-column path."""
        import numpy as np
        import pandas as pd

        if not self.features or any(f["type"] != "numeric" for f in self.features):
            return None
        try:
            values = df[self.input_columns].to_numpy(dtype="float64", na_value=np.nan)
        except (ValueError, TypeError):
            return None  # text in a numeric column: the per-column path names it
        fills = np.array([f["fill"] for f in self.features], dtype="float64")
        return pd.DataFrame(np.where(np.isfinite(values), values, fills), index=df.index,
                            columns=self.model_columns)

    def _encode(self, f: Mapping[str, Any], col: pd.Series, unseen: str) -> list[Any]:
        """The encoded arrays of one feature, in ``_output_names`` order."""
        import numpy as np
        import pandas as pd

        name, kind = f["name"], f["type"]
        if kind == "numeric":
            raw = col.to_numpy()
            if raw.dtype.kind in "fiu":  # already numbers: skip parsing (~0.25 ms a column in serving)
                return [_finite(raw, f["fill"])]
            values = pd.to_numeric(col, errors="coerce")
            bad = values.isna() & col.notna()
            if bad.any():
                raise DataError(f"column '{name}' must be numeric; got {col[bad].iloc[0]!r}", key=name)
            return [_finite(values.to_numpy(dtype="float64", na_value=np.nan), f["fill"])]
        if kind == "boolean":
            return [_to_bool(col, f["fill"]).to_numpy()]
        if kind == "datetime":
            when = parse_datetimes(col)
            return [_date_part(when, p) for p in f.get("parts", _DATE_PARTS)]
        if kind == "text":
            text = col.astype("string").fillna("")
            return [text.str.len().astype("float64").to_numpy(),
                    text.str.split().str.len().fillna(0).astype("float64").to_numpy()]
        cats = f["categories"]
        text = col.astype("string")
        unknown = text.notna() & ~text.isin(cats)
        if unknown.any() and unseen == "error":
            raise DataError(f"column '{name}' has category {text[unknown].iloc[0]!r} not seen in "
                            f"training; expected one of {', '.join(map(repr, cats[:10]))}"
                            + (" ..." if len(cats) > 10 else ""), key=name)
        if f["encoding"] == "onehot":
            return [(text == c).fillna(False).astype("float64").to_numpy() for c in cats]
        codes = {c: float(i) for i, c in enumerate(cats)}
        absent = float(len(cats)) if f["encoding"] == "native" else -1.0
        return [np.array([codes.get(v, absent) if isinstance(v, str) else absent for v in text.tolist()])]

    def compile(self) -> CompiledPreprocessor:
        """This transform for request records, without pandas (see ``CompiledPreprocessor``)."""
        return CompiledPreprocessor(self)

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessor:
        return cls(list(data["features"]))


class Fallback(Exception):
    """The compiled transform cannot give the pandas path's answer for these rows (an unknown category
    under ``unseen=error``, text in a numeric column...): run the pandas path, which names the problem."""


# the ISO-8601 forms Python's datetime.fromisoformat reads exactly as pandas does; anything else is parsed
# by pandas (``parse_datetimes``), value by value
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?$")
_NS_PER_DAY = 86_400 * 10**9


def _missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT: what pandas' ``astype("string")`` turns into <NA>."""
    return value is None or value != value or type(value).__name__ in ("NAType", "NaTType")


class CompiledPreprocessor:
    """``Preprocessor.transform`` for request records, as plain-Python lookups and one numpy block.

    No DataFrame is built: numeric features become one float64 block (median fill where missing),
    categoricals one dict lookup per value, booleans a lookup in the true/false words, texts
    ``len``/``split``, ISO dates ``datetime.fromisoformat``. The result equals the pandas path's
    matrix; ``Bundle`` checks that on probe rows at load and keeps the pandas path where it differs.
    """

    def __init__(self, pre: Preprocessor) -> None:
        import numpy as np

        self.names = pre.input_columns
        self.width = len(pre.output_columns)
        self._numeric: list[tuple[str, int]] = []
        self._others: list[tuple[Mapping[str, Any], int]] = []
        offset = 0
        for f in pre.features:
            if f["type"] == "numeric":
                self._numeric.append((f["name"], offset))
            else:
                self._others.append((f, offset))
            offset += len(Preprocessor._output_names(f))
        self._numeric_names = [name for name, _ in self._numeric]
        self._numeric_at = np.array([at for _, at in self._numeric], dtype=np.intp)
        self._fills = np.array([f["fill"] for f in pre.features if f["type"] == "numeric"], dtype="float64")
        self._lookups = {f["name"]: {c: i for i, c in enumerate(f["categories"])}
                         for f, _ in self._others if f["type"] == "categorical"}

    def records(self, rows: Sequence[Mapping[str, Any]], *, unseen: str = "error") -> Any:
        """The float64 matrix (rows x ``model_columns``) of raw records (a missing key is a missing value).

        Raises:
            Fallback: these rows need the pandas path (it raises the error a user should see).
        """
        import numpy as np

        out = np.zeros((len(rows), self.width), dtype="float64")
        if self._numeric:
            try:
                block = np.array([[row.get(n) for n in self._numeric_names] for row in rows], dtype="float64")
            except (TypeError, ValueError):
                raise Fallback from None  # text in a numeric column: the pandas path names it
            block = block.reshape(len(rows), len(self._numeric_names))
            out[:, self._numeric_at] = np.where(np.isfinite(block), block, self._fills)
        for f, at in self._others:
            values = [row.get(f["name"]) for row in rows]
            _ENCODERS[f["type"]](self, f, values, out, at, unseen)
        return out

    def _categorical(self, f: Mapping[str, Any], values: list[Any], out: Any, at: int, unseen: str) -> None:
        lookup, onehot = self._lookups[f["name"]], f["encoding"] == "onehot"
        absent = float(len(lookup)) if f["encoding"] == "native" else -1.0
        for i, v in enumerate(values):
            if _missing(v):
                code = None
            else:
                code = lookup.get(v if type(v) is str else str(v))
                if code is None and unseen == "error":
                    raise Fallback
            if onehot:
                if code is not None:
                    out[i, at + code] = 1.0
            else:
                out[i, at] = absent if code is None else float(code)

    def _boolean(self, f: Mapping[str, Any], values: list[Any], out: Any, at: int, unseen: str) -> None:
        for i, v in enumerate(values):
            word = None if _missing(v) else str(v).lower()
            out[i, at] = 1.0 if word in _TRUE else 0.0 if word in _FALSE else f["fill"]

    def _text(self, f: Mapping[str, Any], values: list[Any], out: Any, at: int, unseen: str) -> None:
        for i, v in enumerate(values):
            text = "" if _missing(v) else str(v)
            out[i, at], out[i, at + 1] = len(text), len(text.split())

    def _datetime(self, f: Mapping[str, Any], values: list[Any], out: Any, at: int, unseen: str) -> None:
        parts = f.get("parts", _DATE_PARTS)
        rest: list[int] = []  # rows whose value pandas must parse
        for i, v in enumerate(values):
            if _missing(v):
                out[i, at:at + len(parts)] = -1.0
            elif type(v) is str and _ISO.match(v):
                out[i, at:at + len(parts)] = _iso_parts(v, parts)
            else:
                rest.append(i)
        if rest:
            import pandas as pd

            when = parse_datetimes(pd.Series([values[i] for i in rest], dtype=object))
            for j, part in enumerate(parts):
                out[rest, at + j] = _date_part(when, part)


def _iso_parts(text: str, parts: Sequence[str]) -> list[float]:
    """The date parts of one ISO-8601 string, as pandas computes them (UTC; naive counts as UTC)."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    values = []
    for part in parts:
        if part == "days":
            delta = when - _EPOCH
            ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
            values.append(float(ns) / float(_NS_PER_DAY))  # as numpy divides timedelta64[ns] by one day
        elif part == "day_of_week":
            values.append(float(when.weekday()))
        else:
            values.append(float(getattr(when, part)))
    return values


_EPOCH = datetime(1970, 1, 1)
_ENCODERS = {"categorical": CompiledPreprocessor._categorical, "boolean": CompiledPreprocessor._boolean,
             "text": CompiledPreprocessor._text, "datetime": CompiledPreprocessor._datetime}
