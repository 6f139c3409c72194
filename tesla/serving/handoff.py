"""Hand a listening socket from a running server to its successor (zero-downtime replace).

The old server offers its listening socket on a private Unix socket (mode 0600); the new one
connects, receives the file descriptor (SCM_RIGHTS) and serves on the very same socket. Both
accept from one queue until the old server stops; its close only drops its own descriptor, so
no connection waiting in the queue is reset — unlike two SO_REUSEPORT listeners, where closing
one resets what was queued on it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import socket
import tempfile
import threading
from pathlib import Path

__all__ = ["SUPPORTED", "handoff_path", "offer_socket", "take_socket"]

SUPPORTED = hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")
_MAX_PATH = 100  # sun_path holds 104-108 bytes depending on the platform


def handoff_path(state_dir: Path, name: str) -> Path:
    """Where a server named ``name`` offers its socket: under ``state_dir``, or a private temp dir if too long."""
    path = Path(state_dir) / "run" / f"{name}.sock"
    if len(str(path)) > _MAX_PATH:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:20]
        path = Path(tempfile.gettempdir()) / f"tesla-run-{os.getuid()}" / f"{digest}.sock"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def take_socket(path: str | os.PathLike[str], address: tuple[str, int], timeout_s: float = 5.0) -> socket.socket | None:
    """The listening socket offered at ``path`` if it is bound to ``address``; None when nobody offers one."""
    if not SUPPORTED or not Path(path).exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout_s)
        try:
            conn.connect(str(path))
            _, fds, _, _ = socket.recv_fds(conn, 16, 1)
        except OSError:
            return None  # the offering server is gone (a stale path): bind the port afresh
    if not fds:
        return None
    sock = socket.socket(fileno=fds[0])
    host, port = sock.getsockname()[:2]
    if port != address[1] or (address[0] not in ("0.0.0.0", "::", host)):
        sock.close()  # not the address we were asked to serve: refuse rather than serve elsewhere
        return None
    return sock


def offer_socket(path: str | os.PathLike[str], sock: socket.socket) -> None:
    """Offer ``sock`` at ``path`` (0600) from a daemon thread until the process exits."""
    if not SUPPORTED:
        return
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # only this user may take the socket
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(4)
    inode = path.stat().st_ino
    threading.Thread(target=_serve, args=(server, sock), name="tesla-handoff", daemon=True).start()
    atexit.register(_remove, path, inode)


def _serve(server: socket.socket, sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn, contextlib.suppress(OSError):
            socket.send_fds(conn, [b"tesla"], [sock.fileno()])


def _remove(path: Path, inode: int) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_ino == inode:  # still ours, not a successor's
            path.unlink()
