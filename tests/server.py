"""A real `hushan serve` process on a free port, for API and crash tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ADMIN_KEY = "test-admin-key-not-a-secret"
START_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Server:
    def __init__(self, directory: Path, *args: str, **env: str) -> None:
        self.directory = directory
        self.args = args  # extra `hushan serve` options
        self.db = directory / "hushan.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HUSHAN_ADMIN_KEY": ADMIN_KEY,
            "HUSHAN_TEST_CLOCK": "1",
            # Tests move the clock past the 30-day buffer: tokens outlive it unless a test asks.
            "HUSHAN_TOKEN_TTL_DAYS": "3650",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        log = open(self.directory / f"server-{self.port}.log", "ab")  # noqa: SIM115
        # A database URL in the environment (PostgreSQL) wins over the file.
        where = [] if "HUSHAN_DATABASE_URL" in self.env else ["--db", str(self.db)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hushan.cli", "serve", *where, "--port", str(self.port)]
            + list(self.args),
            env=self.env,
            cwd=self.directory,  # where key files go when the database is not a file
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        # A readiness wait, not a timing: on a loaded 2-core machine a start (imports, the
        # migrations) has taken over 30 s.
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()  # not left running behind a failed test
        raise RuntimeError(f"server did not start: {self.log()}")

    def import_edges(self, name: str, lines: list[str], *options: str) -> None:
        """`hushan import` of the edges `lines` (`owner,contact`) beside the running server."""
        edges = self.directory / name
        edges.write_text("\n".join(lines) + "\n")
        where = [] if "HUSHAN_DATABASE_URL" in self.env else ["--db", str(self.db)]
        imported = subprocess.run(
            [sys.executable, "-m", "hushan.cli", "import", str(edges), *options, *where],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
        )
        assert imported.returncode == 0, imported.stdout + imported.stderr

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.directory.glob("server-*.log"))
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what survives is what was committed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
