"""Where a load's rows come from besides a local file: any URL an fsspec filesystem opens, or a SQL query.

A URL (``s3://``, ``gs://``, ``https://``, ``http://``, ...) is copied in 1 MiB chunks to a temporary
local file named as the URL's last part (so its extension still says the format), which the streaming
ingest then reads like any file: the memory bound holds. A query's rows are read whole through
SQLAlchemy (a result set has no byte stream to batch), so a table too big for memory should be exported
to Parquet first. The filesystem and database drivers are imported only here, when such a load runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tesla.errors import DataError, DataNotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["fetched", "is_url", "read_query", "redacted"]

_URL = re.compile(r"^([a-zA-Z][\w+.-]*)://")
_CHUNK = 1 << 20
# the package each protocol's fsspec filesystem lives in, for the message when it is missing
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "http": "aiohttp", "https": "aiohttp",
             "az": "adlfs", "abfs": "adlfs"}


def is_url(data: object) -> bool:
    """Whether ``data`` names a remote file (``scheme://...``), not a local path; ``file://`` counts as local."""
    match = _URL.match(str(data)) if isinstance(data, str) else None
    return bool(match) and match.group(1).lower() != "file"


@contextmanager
def fetched(url: str, workdir: Path) -> Iterator[Path]:
    """``url`` copied to a temporary file under ``workdir`` (removed afterwards), streamed.

    Raises:
        DataNotFoundError: nothing is at ``url``.
        DataError: the protocol is unknown, its package is not installed, or reading fails.
    """
    import shutil
    import tempfile
    from urllib.parse import urlparse

    import fsspec

    scheme = _URL.match(url).group(1).lower()  # type: ignore[union-attr] - is_url(url) holds
    name = Path(urlparse(url).path).name or "data"
    with tempfile.TemporaryDirectory(dir=workdir, prefix="fetch-") as tmp:
        local = Path(tmp) / name
        try:
            with fsspec.open(url, "rb") as src, local.open("wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        except FileNotFoundError as exc:
            raise DataNotFoundError(f"nothing at {url}; check the bucket and path (and that you may read it)",
                                    key=url) from exc
        except ImportError as exc:
            package = _PACKAGES.get(scheme, "the fsspec package for it")
            raise DataError(f"reading {scheme}:// URLs needs {package}; install it with pip install "
                            f"'tesla-ml[data]'", key=url) from exc
        except ValueError as exc:
            if "Protocol not known" in str(exc):
                raise DataError(f"'{scheme}://' in {url} is not a protocol fsspec knows; use s3://, gs://, "
                                "https:// or a local path", key=url) from exc
            raise DataError(f"cannot read {url}: {_first_line(exc)}", key=url) from exc
        except (OSError, RuntimeError) as exc:  # permission, network, the SDKs' own errors
            raise DataError(f"cannot read {url}: {_first_line(exc)}", key=url) from exc
        yield local


def redacted(url: str) -> str:
    """A SQLAlchemy URL without its password, as messages and the version's source show it."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def read_query(sql: str, url: str) -> pd.DataFrame:
    """The rows ``sql`` selects from the database at the SQLAlchemy ``url``.

    Raises:
        DataNotFoundError: a SQLite URL names a file that does not exist (SQLAlchemy would create it).
        DataError: the URL is not one SQLAlchemy knows, or the query fails; the message names both.
    """
    import pandas as pd
    import sqlalchemy as sa

    shown = redacted(url)
    try:
        parsed = sa.engine.make_url(url)
        engine = sa.create_engine(parsed)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DataError(f"--url {shown} is not a database URL SQLAlchemy can open ({_first_line(exc)}); e.g. "
                        "sqlite:///data.db or postgresql://user@host/db", key="url") from exc
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:") \
            and not Path(database).is_file():
        raise DataNotFoundError(f"SQLite database '{database}' (--url {shown}) does not exist; check the path "
                                "(sqlite:///relative.db, sqlite:////absolute.db)", key="url")
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(sql), conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:  # pandas wraps the driver's error
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        reason = _first_line(getattr(cause, "orig", None) or cause)
        raise DataError(f"the query failed on {shown}: {reason}; query: {sql}", key="sql") from exc
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
