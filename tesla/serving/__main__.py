"""Serve a bundle: ``python -m tesla.serving --bundle DIR [--host H] [--port P] ...``.

This is the command of the serving container on every target. Inside SageMaker the bundle
is at ``/opt/ml/model`` and the port is 8080; on Vertex ``AIP_HTTP_PORT`` and
``AIP_STORAGE_URI`` (a mounted path) apply. The bearer token is read from the environment
variable named by ``--auth-token-env`` and never logged.

Zero-downtime replace on a fixed port (``tesla deploy`` with ``deploy.port=N``): each server
offers its listening socket on a private Unix socket (``--handoff-at``); the next version takes
it from there (``--handoff-from``) instead of binding the port, so old and new accept from the
same socket until the old one stops. Nothing queued on it is lost: the socket stays open in the
new process when the old one closes its copy (SO_REUSEPORT would reset those connections).

``--workers N`` (``deploy.workers``) runs N server processes on that one listening socket under a
supervisor (``tesla.serving.supervisor``): the supervisor binds (or takes over) the socket, offers
it to a successor, and its pid is the one ``/health`` reports.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import signal
import socket
import sys
from pathlib import Path

from tesla.errors import TeslaError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tesla.serving", description="Serve a Tesla model bundle over HTTP.")
    ap.add_argument("--bundle", default=os.environ.get("AIP_STORAGE_URI") or "/opt/ml/model")
    ap.add_argument("--host", default="0.0.0.0" if "AIP_HTTP_PORT" in os.environ else "127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("AIP_HTTP_PORT", "8080")))
    ap.add_argument("--model-ref", default="", help="name@version, reported by /health and every response")
    ap.add_argument("--unseen-category", default="error", choices=["error", "unknown"])
    ap.add_argument("--max-body-bytes", type=int, default=10_000_000)
    ap.add_argument("--auth-token-env", default=None, help="name of the environment variable holding the token")
    ap.add_argument("--behind-provider", choices=["sagemaker", "vertex"], default=None,
                    help="inside a SageMaker/Vertex serving container: the provider authenticates callers "
                         "(SigV4 / IAM) and only its front end reaches the port, so no bearer token is needed")
    ap.add_argument("--capture-dir", type=Path, default=None, help="log predictions, errors and feedback here")
    ap.add_argument("--max-batch-size", type=int, default=64, help="most rows merged into one predict call")
    ap.add_argument("--max-latency-ms", type=float, default=2.0, help="longest a request waits to join a batch")
    ap.add_argument("--handoff-from", default=None, help="take the listening socket from the server offering it here")
    ap.add_argument("--handoff-at", default=None, help="offer this server's listening socket here (Unix socket path)")
    ap.add_argument("--workers", type=int, default=1,
                    help="server processes on the one port (deploy.workers); above 1 a supervisor runs them")
    ap.add_argument("--predict-threads", type=int, default=1,
                    help="predict calls running at once in each process; above 1 a request over the batch "
                         "size is split into chunks predicted in parallel")
    # set by the supervisor for its workers: the inherited listening socket, and the pid /health reports
    ap.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, default=None, help=argparse.SUPPRESS)
    return ap


def _count_problem(args: argparse.Namespace) -> str | None:
    limit = (os.cpu_count() or 1) * 4
    for flag, value in (("--workers", args.workers), ("--predict-threads", args.predict_threads)):
        if not 1 <= value <= limit:
            return f"{flag} must be between 1 and {limit} (4 x this machine's {os.cpu_count()} CPUs); got {value}"
    return None


def _token(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(token, error message)."""
    token = os.environ.get(args.auth_token_env) if args.auth_token_env else None
    if args.auth_token_env and not token:
        return None, f"environment variable {args.auth_token_env} (deploy.auth_token_env) is empty"
    if not token and not _is_loopback(args.host) and not args.behind_provider:
        return None, (f"serving on {args.host} (not loopback) needs a bearer token: set deploy.auth_token_env "
                      "to the name of an environment variable holding it")
    return token, None


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the listening
    # socket says so; without it keep-alive clients wait ~40 ms per response (Nagle + delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _listening_socket(args: argparse.Namespace) -> socket.socket:
    from tesla.serving.handoff import take_socket

    if args.handoff_from:
        sock = take_socket(args.handoff_from, (args.host, args.port))
        if sock is not None:
            print(f"tesla.serving pid {os.getpid()}: took over the listening socket of {args.host}:{args.port}",
                  file=sys.stderr, flush=True)
            return sock
    return _socket(args.host, args.port)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    problem = _count_problem(args)
    if problem:
        print(f"Error: {problem}", file=sys.stderr)
        return 2
    token, problem = _token(args)
    if problem:
        print(f"Error: {problem}", file=sys.stderr)
        return 1
    if args.workers > 1:
        from tesla.serving.supervisor import supervise

        from tesla.models import check_bundle

        try:
            check_bundle(args.bundle)  # a bad bundle: one clear line here, not N crashing workers
            listening = _listening_socket(args)
        except (TeslaError, OSError) as exc:
            return _startup_error(exc, args)
        return supervise(args, argv, listening)
    try:
        import uvicorn

        from tesla.models import load_bundle
        from tesla.serving.app import ServingSettings, create_app

        # lean: this process only serves, so a booster is read without scikit-learn (boosters.load)
        app = create_app(load_bundle(Path(args.bundle), lean=True), ServingSettings(
            model_ref=args.model_ref, unseen_category=args.unseen_category, max_body_bytes=args.max_body_bytes,
            auth_token=token, capture_dir=args.capture_dir, max_batch_size=args.max_batch_size,
            max_latency_ms=args.max_latency_ms, predict_threads=args.predict_threads, server_pid=args.server_pid))
        sock = socket.socket(fileno=args.listen_fd) if args.listen_fd is not None else _listening_socket(args)
    except (TeslaError, OSError) as exc:
        return _startup_error(exc, args)
    # access_log off: request lines would hold client data; the token is never printed anywhere
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=2048, timeout_graceful_shutdown=30)
    print(f"tesla.serving pid {os.getpid()}: {args.model_ref or args.bundle} on {args.host}:{args.port} "
          f"(auth {'on' if token else 'off'}, batching {args.max_batch_size} rows / {args.max_latency_ms} ms, "
          f"capture {args.capture_dir or 'off'})", file=sys.stderr, flush=True)
    # everything loaded so far (pandas, sklearn, the model) lives as long as the server: keep it out of the
    # garbage collector's full passes, which otherwise stall a busy server for tens of milliseconds
    gc.collect()
    gc.freeze()
    if args.server_pid:
        from tesla.serving.supervisor import exit_with

        exit_with(args.server_pid)
    if args.handoff_at:
        from tesla.serving.handoff import offer_socket

        offer_socket(args.handoff_at, sock)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (requests finish, the lifespan flushes the
    # capture), then re-raises the signal under the handler that was there before it: make that a
    # clean exit, so atexit hooks (the handoff socket's removal) still run
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        print(f"tesla.serving pid {os.getpid()}: stopped", file=sys.stderr, flush=True)
    return 0


def _startup_error(exc: Exception, args: argparse.Namespace) -> int:
    """The one line for a server that cannot start (a bad bundle, a port in use); exit status 1."""
    problem = (str(exc) if isinstance(exc, TeslaError)
               else f"cannot bind {args.host}:{args.port}: {getattr(exc, 'strerror', exc)}; pick another port")
    print(f"Error: {problem}", file=sys.stderr)
    return 1


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
