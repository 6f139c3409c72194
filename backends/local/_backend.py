"""In-process implementation of the local backend: steps run here, models are served by local processes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tesla.execution import Backend, ModelHosting, StepHandle, StepOutcome, StepState
from tesla.execution.backend import EventSink
from tesla.plan import Plan, Step
from tesla_backends.local import SPEC

__all__ = ["LocalBackend"]


class LocalBackend(Backend, ModelHosting):
    """Runs each step synchronously in this process, and serves models as local server processes.

    It sends no provider requests (nothing to dry-run or price) and starts no provider jobs.
    A deployment is one ``tesla.serving`` process, its log and prediction captures under
    ``.tesla/``; a new version on a fixed port takes over the old server's listening socket.
    """

    spec = SPEC

    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        outcome = self.run_in_process(step, inputs, emit)
        return StepHandle(step=step, run_id=run_id, data={"outcome": outcome})

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        return StepState.SUCCEEDED, None

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        return handle.data["outcome"]

    # -- model hosting ------------------------------------------------------------------------------
    def deploy_model(self, bundle_dir: Path, *, model: str, version: int, settings: Mapping[str, Any],
                     tags: Mapping[str, str], replaces: Mapping[str, Any] | None = None,
                     on_spawn: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Start a model server for the bundle and wait until it reports healthy.

        Args:
            bundle_dir: the bundle directory in the artifact store.
            model: registered model name.
            version: registered model version.
            settings: the ``deploy`` config (``host``, ``port``, ``data_capture``, ``batching``...).
            tags: unused: a local process has nowhere to carry labels.
            replaces: the info of the server this one replaces: on the same fixed port it hands its
                socket over (where the platform supports it; else it is stopped first to free the port).
            on_spawn: called with the new server's pid before the health wait.

        Returns:
            ``url``, ``pid``, ``port``, ``log_path``, ``capture_dir`` and ``handoff`` (the socket the
            server offers to its successor; None on port 0).

        Raises:
            DeployError: the server did not start or report healthy in ``health_timeout_s``.
        """
        import secrets

        from tesla.serving import handoff
        from tesla.serving.process import start_server, stop_server

        state = Path(self.store.state_dir)
        profile, port = settings["profile"], settings["port"]
        same_port = bool(port and replaces and replaces.get("port") == port)
        take_from = replaces.get("handoff") if same_port and replaces else None
        if same_port and replaces and not (handoff.SUPPORTED and take_from):
            stop_server(replaces.get("pid"))  # the port cannot be handed over here: it must be freed first
        # a fixed port outlives its servers: each offers its socket to the next (no moment without a server)
        offer_at = (handoff.handoff_path(state, f"{model}-{profile}-{secrets.token_hex(4)}")
                    if port and handoff.SUPPORTED else None)
        capture = state / "captures" / model / profile if settings["data_capture"] else None
        log_path = state / "logs" / f"{model}-{profile}-v{version}.log"
        proc = start_server(bundle_dir, host=settings["host"], port=port, model_ref=f"{model}@{version}",
                            log_path=log_path, unseen_category=settings["unseen_category"],
                            max_body_bytes=settings["max_body_bytes"], auth_token_env=settings["auth_token_env"],
                            capture_dir=capture, max_batch_size=settings["batching"]["max_batch_size"],
                            max_latency_ms=settings["batching"]["max_latency_ms"],
                            handoff_from=Path(take_from) if take_from else None, handoff_at=offer_at,
                            health_timeout_s=settings["health_timeout_s"], workers=settings.get("workers", 1),
                            extra_args=["--predict-threads", str(settings.get("predict_threads", 1))],
                            on_spawn=on_spawn)
        return {"url": proc.url, "pid": proc.pid, "port": proc.port, "log_path": str(proc.log_path),
                "capture_dir": str(capture) if capture else None, "handoff": str(offer_at) if offer_at else None,
                "auth_token_env": settings["auth_token_env"]}  # its name only: tesla server reads /metrics with it

    def undeploy_model(self, info: Mapping[str, Any]) -> None:
        """Stop the server (SIGTERM: it finishes its requests and flushes its capture first)."""
        from tesla.serving.process import stop_server

        stop_server(info.get("pid"))

    def retire_model(self, info: Mapping[str, Any]) -> None:
        """Stop the replaced server: its successor is healthy (and holds the handed-over socket)."""
        self.undeploy_model(info)
