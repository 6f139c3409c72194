"""Tesla's one exception tree.

Every error a user can cause is a ``TeslaError``; the CLI prints its message as one line
(``Error: ...``) and exits 1, the REST server answers ``{"error": {"type", "message", "key"}}``.
Each class also subclasses the matching built-in so callers that catch ``ValueError`` or
``FileNotFoundError`` keep working::

    TeslaError(Exception)
    ├── ConfigError(ValueError)            bad config key, type or value (``key`` = dotted path)
    ├── PlanError(ValueError)              a plan that cannot be compiled or read
    ├── DataError(ValueError)              unreadable data, unknown column, bad schema
    │   ├── DataNotFoundError(FileNotFoundError)   missing file or dataset version
    │   └── PayloadError                   (tesla.serving.payload) a request body that cannot be read as rows
    │       ├── UnsupportedMediaType       neither JSON nor CSV (HTTP 415)
    │       └── PayloadTooLarge            over the body or row limit (HTTP 413)
    ├── ModelNotFoundError(LookupError)    unknown model name or version
    ├── ProjectError(ValueError)           a directory that cannot be the project asked for (``tesla init``)
    │   └── ProjectNotFoundError(FileNotFoundError)  no project in a directory or any parent of it
    ├── BundleError(ValueError)            a model bundle that cannot be loaded safely (``key`` = file inside it)
    ├── IntegrityError(ValueError)         a stored artifact changed since it was stored (``key`` = file inside it)
    ├── DependencyError(ImportError)       an optional extra is not installed (message has the pip command)
    ├── BackendError(RuntimeError)         a backend could not run or reach its service
    │   ├── NotSupportedError(NotImplementedError)  a capability the backend lacks
    │   └── StepFailedError(RuntimeError)  a step body raised (``step`` = step id)
    ├── DeployError(RuntimeError)          a deployment could not start, stop or be found
    ├── GateError(RuntimeError)            a quality gate refused a deploy
    ├── ReplayError(RuntimeError)          a replayed model did not reproduce its recorded score
    ├── AuthError(PermissionError)         no, unknown or revoked API token (HTTP 401)
    ├── PermissionDenied(PermissionError)  the token's user has too low a role for the request (HTTP 403)
    └── UserNotFoundError(LookupError)     no user or API token by that name / id
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AuthError",
    "BackendError",
    "did_you_mean",
    "BundleError",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "DependencyError",
    "DeployError",
    "GateError",
    "IntegrityError",
    "ModelNotFoundError",
    "NotSupportedError",
    "PermissionDenied",
    "PlanError",
    "ProjectError",
    "ProjectNotFoundError",
    "ReplayError",
    "StepFailedError",
    "TeslaError",
    "UserNotFoundError",
]


class TeslaError(Exception):
    """Base of every error Tesla raises on purpose.

    Args:
        message: one line saying what is wrong, where, and how to fix it.
        key: the dotted config key, file or field the error is about, when there is one.
        step: the plan step id the error happened in, when there is one.
        run_id: the run the error happened in, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        step: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.step = step
        self.run_id = run_id

    def __reduce__(self) -> tuple:
        # keyword-only fields would be lost by the default pickling of exceptions
        return (_rebuild, (type(self), self.message, self.key, self.step, self.run_id))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[TeslaError], message: str, key: str | None, step: str | None,
             run_id: str | None) -> TeslaError:
    return cls(message, key=key, step=step, run_id=run_id)


class ConfigError(TeslaError, ValueError):
    """A config key is unknown, of the wrong type, missing or out of range."""


class PlanError(TeslaError, ValueError):
    """A plan cannot be compiled, has a cycle, or cannot be read back."""


class DataError(TeslaError, ValueError):
    """Data cannot be read or does not fit what the config asks of it."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file or dataset version does not exist."""


class ModelNotFoundError(TeslaError, LookupError):
    """No registered model has that name or version."""


class ProjectError(TeslaError, ValueError):
    """A directory cannot be used as the project asked for: e.g. ``tesla init`` onto a file or a project."""


class ProjectNotFoundError(ProjectError, FileNotFoundError):
    """No Tesla project (``conf/config.yaml`` or ``.tesla/``) in a directory or any of its parents."""


class BundleError(TeslaError, ValueError):
    """A model bundle is malformed or holds a type that is not trusted."""


class IntegrityError(TeslaError, ValueError):
    """A stored artifact no longer matches the content hash recorded when it was stored."""


class DependencyError(TeslaError, ImportError):
    """An optional dependency is missing; the message names the pip command."""


class BackendError(TeslaError, RuntimeError):
    """A backend could not run a plan or reach its service."""


class NotSupportedError(BackendError, NotImplementedError):
    """The chosen backend does not support the requested capability."""


class StepFailedError(BackendError):
    """A step body raised; ``step`` names the step."""


class DeployError(TeslaError, RuntimeError):
    """A deployment could not be started, stopped or found."""


class GateError(TeslaError, RuntimeError):
    """A quality gate refused a deployment."""


def did_you_mean(value: object, options: Iterable[object]) -> str:
    """`` Did you mean 'x'?`` for the closest option (or one it is a prefix of), else ``""``."""
    import difflib

    names = [str(o) for o in options]
    text = str(value)
    close = difflib.get_close_matches(text, names, n=1) or [n for n in names if text and n.startswith(text)][:1]
    return f" Did you mean '{close[0]}'?" if close else ""


class ReplayError(TeslaError, RuntimeError):
    """Refitting a model's winning config did not reproduce its recorded score."""


class AuthError(TeslaError, PermissionError):
    """A request to the REST server has no API token, or one that is unknown or revoked (HTTP 401)."""


class PermissionDenied(TeslaError, PermissionError):
    """The API token's user has a role too low for what the request does (HTTP 403)."""


class UserNotFoundError(TeslaError, LookupError):
    """No user of that name, or no API token with that id."""
