"""README's "Two people, one server" works as written: its shell blocks run line by line.

``build-box:8765`` becomes the loopback address and a free port; the server line runs in the
background (bound to 0.0.0.0 as written, which auth allows) and is stopped by PID. A line whose
comment starts with ``Error:`` must fail with exit 1 and print that error; every other line must
succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote.conftest import free_port, wait_healthy

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("## Two people, one server"):]
    section = section[:section.index("\n## ", 5)]
    return [[line for line in block.splitlines() if line.strip()]
            for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def _run(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_two_person_setup_works_as_written(tmp_path: Path, datasets_dir: Path) -> None:
    blocks = _blocks()
    assert len(blocks) == 3, blocks
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TESLA_SERVER", None)
    env.pop("TESLA_TOKEN", None)
    server_dir, alice, bob = tmp_path / "server", tmp_path / "alice", tmp_path / "bob"
    assert _run(f"tesla init {server_dir}", tmp_path, env).returncode == 0
    for home in (alice, bob):
        home.mkdir()
        shutil.copy(datasets_dir / "iris.csv", home / "iris.csv")

    def here(line: str) -> str:
        return line.replace("build-box:8765", f"127.0.0.1:{port}").replace("--port 8765", f"--port {port}")

    server = None
    try:
        for line in blocks[0]:
            if line.startswith("tesla server"):
                server = subprocess.Popen(["bash", "-c", f"exec {here(line.split('#')[0])}"], cwd=server_dir, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                continue
            done = _run(here(line), server_dir, env)
            assert done.returncode == 0, (line, done.stderr)
        assert server is not None
        wait_healthy(server, f"http://127.0.0.1:{port}")
        shutil.copy(server_dir / "alice.token", alice / "alice.token")
        for who, block in ((alice, blocks[1]), (bob, blocks[2])):
            if who == bob:
                shutil.copy(alice / "bob.token", bob / "bob.token")  # "send it to Bob"
            exports = here(block[0])
            assert exports.startswith("export "), block[0]
            for line in block[1:]:
                done = _run(f"{exports} && {here(line)}", who, env)
                wanted = re.search(r"# (Error: .*)$", line)
                if wanted:
                    assert done.returncode == 1, (line, done.stdout, done.stderr)
                    for piece in wanted[1].split("..."):  # "Error: ... needs 'admin' (...)": each piece is there
                        assert piece.strip() in done.stderr, (piece, done.stderr)
                else:
                    assert done.returncode == 0, (line, done.stderr)
                if "models list" in line:
                    assert "alice" in done.stdout, done.stdout
        assert (bob / "preds.csv").is_file()
    finally:
        if server is not None:
            server.terminate()
            server.communicate(timeout=30)


pytestmark = pytest.mark.slow
