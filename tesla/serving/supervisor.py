"""N server processes on one port: ``python -m tesla.serving --workers N`` (``deploy.workers``).

The supervisor binds the listening socket (or takes it over from the server it replaces, see
``tesla.serving.handoff``), starts N workers (``python -m tesla.serving`` with the socket as an
inherited file descriptor) and offers the socket to its own successor. The kernel spreads new
connections over the workers accepting on the one socket; nothing is queued on a socket of its own,
so stopping a worker resets no waiting connection (as SO_REUSEPORT listeners would).

``/health`` of every worker reports the supervisor's pid (what ``tesla deploy`` records and stops),
plus its own ``worker_pid``. SIGTERM/SIGINT to the supervisor stop the workers gracefully (each
finishes its requests and flushes its capture), then the supervisor exits. A worker that dies after
its start-up is restarted; one that dies within ``_START_GRACE_S`` of starting stops them all
(a bundle that cannot load would otherwise restart forever). A worker whose supervisor is gone
(killed) stops itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

__all__ = ["exit_with", "supervise", "worker_argv"]

_START_GRACE_S = 10.0  # a worker exiting sooner than this after its start failed to start
_OWN_FLAGS = ("--workers", "--handoff-from", "--handoff-at", "--listen-fd", "--server-pid")


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    started: float


def worker_argv(argv: list[str], fd: int, server_pid: int) -> list[str]:
    """The command of one worker: the supervisor's flags without its own, plus the socket and pid."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        flag = token.partition("=")[0]
        if flag in _OWN_FLAGS:
            skip = "=" not in token  # "--workers 4" takes the next token, "--workers=4" does not
            continue
        out.append(token)
    return [sys.executable, "-m", "tesla.serving", *out, "--listen-fd", str(fd), "--server-pid", str(server_pid)]


def supervise(args: argparse.Namespace, argv: list[str], sock: socket.socket) -> int:
    """Run ``args.workers`` workers on the listening socket ``sock`` until SIGTERM/SIGINT; the exit status."""
    sock.listen(2048)  # connections queue from now on, while the workers load the model
    sock.set_inheritable(True)
    command = worker_argv(argv, sock.fileno(), os.getpid())
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    workers = [_spawn(command, sock.fileno()) for _ in range(args.workers)]
    print(f"tesla.serving pid {os.getpid()}: supervising {args.workers} workers "
          f"({', '.join(str(w.proc.pid) for w in workers)}) on {args.host}:{args.port}", file=sys.stderr, flush=True)
    if args.handoff_at:
        from tesla.serving.handoff import offer_socket

        offer_socket(args.handoff_at, sock)
    status = _watch(workers, command, sock.fileno(), stopping)
    _stop_all(workers)
    sock.close()
    print(f"tesla.serving pid {os.getpid()}: stopped", file=sys.stderr, flush=True)
    return status


def _spawn(command: list[str], fd: int) -> _Worker:
    return _Worker(subprocess.Popen(command, pass_fds=(fd,), stdin=subprocess.DEVNULL), time.monotonic())


def _watch(workers: list[_Worker], command: list[str], fd: int, stopping: threading.Event) -> int:
    """Restart workers that die, until asked to stop (0) or one fails at start-up (its status)."""
    while not stopping.wait(0.2):
        for i, worker in enumerate(workers):
            code = worker.proc.poll()
            if code is None:
                continue
            if time.monotonic() - worker.started < _START_GRACE_S:
                print(f"tesla.serving pid {os.getpid()}: worker {worker.proc.pid} exited with status {code} "
                      "while starting; stopping", file=sys.stderr, flush=True)
                return code or 1
            print(f"tesla.serving pid {os.getpid()}: worker {worker.proc.pid} exited with status {code}; "
                  "restarting it", file=sys.stderr, flush=True)
            workers[i] = _spawn(command, fd)
    return 0


def _stop_all(workers: list[_Worker], timeout_s: float = 40.0) -> None:
    """SIGTERM every worker (graceful: requests finish, capture flushes), SIGKILL what is left after the wait."""
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        try:
            worker.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()


def exit_with(server_pid: int) -> None:
    """In a worker: stop (SIGTERM to itself, graceful) once the supervisor ``server_pid`` is gone."""

    def watch() -> None:
        while os.getppid() == server_pid:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tesla-supervisor-watch", daemon=True).start()
