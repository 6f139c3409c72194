"""The REST contract: one table of routes, each naming the service method it calls. Pure data.

The server (``tesla/server/app.py``) mounts a FastAPI endpoint per short route, with a request
model made from the service method's signature; the remote client (``tesla/remote.py``) builds its
methods from the same table, so a method the table names is reachable both ways and nothing else
is. A route marked ``job`` is a long operation: it has no endpoint of its own but is submitted as
``POST /jobs {"kind": "<service>.<method>", "params": {...}}`` and followed over
``GET /jobs/{id}/events`` (server-sent events). Parameters in ``files`` name a file of the
caller's: the client uploads it first (``POST /uploads``) and passes the server's copy; those in
``local`` never travel: the client handles them itself (``predict -o`` writes the file on the
caller's machine). Callbacks (``on_event``, ``progress``) never travel either: a job's events feed
them. ``role`` is what the caller's API token needs: ``read`` for looking, ``write`` for changing
the project, ``admin`` for users and tokens. ``media`` names the content type of an answer that is not JSON:
the method returns the body as a string (a stored report's HTML).

Nothing here imports FastAPI, httpx or a service module, so both sides (and ``tesla --help``) can
read it for free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CALLBACKS", "ROUTES", "UPLOADS_PATH", "Param", "Route", "by_call", "jobs", "method_of", "params", "returns"]

CALLBACKS = frozenset({"on_event", "progress"})  # parameters a job's events feed; never sent
UPLOADS_PATH = "/uploads"  # POST the raw bytes of a caller's file, ?name=ORIGINAL; answers {"path", "sha256"}


@dataclass(frozen=True)
class Route:
    """One service method reached over HTTP."""

    method: str  # HTTP method: GET | POST | DELETE
    path: str  # with {name} for each parameter that travels in the path
    call: str  # "<service>.<method>" on tesla.Project, e.g. "data.log"
    summary: str  # one line for the OpenAPI document
    job: bool = False  # a long operation: submitted to POST /jobs, not mounted at ``path``
    files: tuple[str, ...] = ()  # parameters naming a caller's input file: uploaded first
    local: tuple[str, ...] = ()  # parameters the client handles itself; never sent
    role: str = ""  # the API token's role it needs; default: read for GET, write otherwise
    result: str = ""  # "module:Name" the answer decodes to, only where the method is annotated ``Any``
    media: str = ""  # the answer's content type where it is not JSON ("text/html"): the method returns the body

    @property
    def service(self) -> str:
        return self.call.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.call.split(".", 1)[1]

    @property
    def needs(self) -> str:
        return self.role or ("read" if self.method == "GET" else "write")

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))


def _r(method: str, path: str, call: str, summary: str, **kw: object) -> Route:
    return Route(method, path, call, summary, **kw)  # type: ignore[arg-type]


ROUTES: tuple[Route, ...] = (
    # -- data ingestion
    _r("POST", "/jobs", "data.load", "Ingest a file as a new immutable version of a dataset.", job=True,
       files=("data",)),
    _r("GET", "/data/datasets", "data.datasets", "The current version of every dataset."),
    _r("GET", "/data/{name}/version", "data.version", "One version of a dataset (default: its current one)."),
    _r("GET", "/data/{name}/profile", "data.profile", "Distributions, associations, target and warnings of a version.",
       result="tesla.report.profile:DataProfile"),
    _r("GET", "/data/{name}/log", "data.log", "Every version of a dataset, newest first."),
    _r("GET", "/data/{name}/diff", "data.diff", "Rows and columns changed between two versions."),
    _r("POST", "/data/{name}/rollback", "data.rollback", "Make an earlier version current again."),
    _r("GET", "/datasets/{ref}", "data.show", "One version (NAME@V or NAME@TAG), its tags and models trained on it."),
    _r("POST", "/datasets/{ref}/tags/{tag}", "data.tag", "Name a dataset version (moves the tag if it exists)."),
    _r("POST", "/datasets/gc", "data.gc", "Delete dataset versions nothing refers to.", role="admin"),
    # -- training
    _r("GET", "/training/plan", "training.compile_plan", "The compiled plan of a training config."),
    _r("POST", "/training/plan/status", "training.plan_status", "Which steps of a plan are cached.",
       role="read"),
    _r("GET", "/training/sweep-plans", "training.compile_sweep_plans", "The plan of every point of a sweep."),
    _r("GET", "/training/dry-run", "training.dry_run", "The provider requests a plan would send, and their cost."),
    _r("POST", "/jobs", "training.train", "Search models, register the best as a new model version.", job=True),
    _r("POST", "/jobs", "training.sweep", "Train every point of a sweep; register the best.", job=True),
    _r("POST", "/jobs", "training.replay", "Refit a model's winner on its recorded data; compare scores.",
       job=True),
    _r("GET", "/training/model-versions", "training.models", "Registered model versions, with lineage."),
    _r("GET", "/training/runs", "training.runs", "Recent runs."),
    _r("GET", "/training/runs/{run_id}", "training.run_report", "A run's steps, leaderboard and trials."),
    _r("GET", "/training/runs/{run_id}/trials", "training.trials", "A run's search trials."),
    _r("GET", "/training/cloud-jobs", "training.jobs_list", "Jobs Tesla started on a cloud backend."),
    _r("GET", "/training/cloud-jobs/{job}", "training.jobs_status", "A cloud job's state."),
    _r("GET", "/training/cloud-jobs/{job}/logs", "training.jobs_logs", "A cloud job's log lines."),
    _r("POST", "/training/cloud-jobs/{job}/cancel", "training.jobs_cancel", "Ask the provider to stop a job."),
    # -- evaluation
    _r("POST", "/jobs", "evaluation.evaluate", "Score a model on labelled data against a baseline.", job=True,
       files=("data",)),
    _r("POST", "/jobs", "evaluation.compare", "Metric deltas of two models on the same rows, with bootstrap CIs.",
       job=True, files=("data",)),
    _r("POST", "/evaluation/predict", "evaluation.predict", "Batch-score a file with a registered model.",
       files=("data",), local=("output",), role="read"),
    _r("GET", "/evaluation/{model}/evaluations", "evaluation.evaluations",
       "A model's recorded evaluations (tesla evaluate, and each version's training run), newest first."),
    _r("GET", "/evaluation/{model}/reports/{report}", "evaluation.report",
       "A recorded evaluation report of a model: its self-contained HTML (plots as inline SVG).", media="text/html"),
    # -- deployment
    _r("POST", "/jobs", "deployments.deploy", "Serve a model with a deploy profile (idempotent, gated).",
       job=True),
    _r("POST", "/jobs", "deployments.rollback", "Serve again the version that served a profile before.",
       job=True),
    _r("GET", "/deployments/records", "deployments.list", "Deployments, running or all."),
    _r("GET", "/deployments/health", "deployments.status", "Running deployments with a live health check."),
    _r("GET", "/deployments/live", "deployments.live",
       "Running deployments' traffic now (requests, errors, latency), read from each one's own /metrics."),
    _r("GET", "/deployments/{model}/logs", "deployments.logs", "The server log of a model's newest deployment."),
    _r("POST", "/deployments/{model}/stop", "deployments.stop", "Stop the running deployments of a model."),
    # -- monitoring
    _r("POST", "/jobs", "monitoring.monitor", "Check a deployment's traffic against its training data.",
       job=True, local=("report",), result="tesla.monitor:MonitorReport"),
    _r("GET", "/monitoring/checks", "monitoring.history", "Past monitoring checks, newest first."),
    _r("POST", "/monitoring/feedback", "monitoring.feedback", "Record ground-truth labels for predictions.",
       files=("data",), result="tesla.monitor:FeedbackResult"),
    # -- users and API tokens (admin)
    _r("GET", "/users", "users.list", "Users and their roles.", role="admin"),
    _r("POST", "/users", "users.add", "Add a user.", role="admin"),
    _r("POST", "/users/{name}/role", "users.set_role", "Change a user's role.", role="admin"),
    _r("DELETE", "/users/{name}", "users.remove", "Remove a user and delete their tokens.", role="admin"),
    _r("GET", "/tokens", "users.tokens", "API tokens by id (never the secret).", role="admin"),
    _r("POST", "/tokens", "users.create_token", "Make an API token (its secret is in this answer only).",
       role="admin"),
    _r("POST", "/tokens/{tid}/revoke", "users.revoke", "Revoke an API token.", role="admin"),
)


def by_call() -> dict[str, Route]:
    """Every route by the service method it calls (``"data.log"``)."""
    return {r.call: r for r in ROUTES}


def jobs() -> frozenset[str]:
    """The kinds of job a client may submit: the long operations."""
    return frozenset(r.call for r in ROUTES if r.job)


@dataclass(frozen=True)
class Param:
    """One parameter of a route's service method that travels over HTTP."""

    name: str
    hint: object  # the resolved annotation (``typing.get_type_hints``)
    default: object  # ``inspect.Parameter.empty`` when required


def method_of(call: str) -> object:
    """The service method (unbound function) a call names, e.g. ``DataService.log`` for ``"data.log"``."""
    import typing

    from tesla.project import Project  # lazy: the table itself stays free of the session's imports

    service, name = call.split(".", 1)
    cls = typing.get_type_hints(vars(Project)[service].func)["return"]  # Project.data -> DataService
    return getattr(cls, name)


def params(route: Route) -> list[Param]:
    """The parameters of ``route``'s method a caller sends: not self, not callbacks, not ``local`` ones."""
    import inspect
    import typing

    fn = method_of(route.call)
    hints = typing.get_type_hints(fn)
    skip = CALLBACKS | set(route.local) | {"self"}
    return [Param(p.name, hints.get(p.name, object), p.default)
            for p in inspect.signature(fn).parameters.values() if p.name not in skip]


def returns(call: str) -> object:
    """The return annotation of the method a call names: what its JSON answer decodes to (the route's
    ``result`` where the method says only ``Any``)."""
    import importlib
    import typing

    hint = typing.get_type_hints(method_of(call)).get("return", object)
    named = by_call()[call].result
    if hint is typing.Any and named:
        module, _, name = named.partition(":")
        return getattr(importlib.import_module(module), name)
    return hint
