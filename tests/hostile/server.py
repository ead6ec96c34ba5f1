"""The server under attack: `python -m subgraph serve` in a subprocess, as an operator runs it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.conftest import environ_without_settings

ROOT = Path(__file__).resolve().parents[2]
NAMESPACES = ROOT / "tests" / "namespaces.toml"
REQUEST_TIMEOUT_SECONDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> dict[str, str]:
    """This environment without SUBGRAPH_* settings (every limit at its default), plus the
    request timeout the suite runs under.  The Cassandra connection settings stay (make test's
    node wants a password and TLS: tests/conftest.py)."""
    env = environ_without_settings()
    env["SUBGRAPH_REQUEST_TIMEOUT"] = str(request_timeout)
    return env


class Server:
    """One server process on a free port over a fresh SQLite file (or `store`); its output goes
    to `log`."""

    def __init__(
        self, workdir: Path, *, store: str | None = None, namespaces: Path = NAMESPACES,
        name: str = "server", request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        args: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "subgraph", "serve", "--port", str(self.port),
                 "--store", store or f"sqlite:///{workdir}/h.db",
                 "--namespaces", str(namespaces), *args],
                cwd=ROOT, env=clean_env(request_timeout), stdout=out, stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until_healthy(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_text()[-4000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy:\n{self.log_text()[-4000:]}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        """Resident set size of the server process (VmRSS in /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_text(self, start: int = 0, end: int | None = None) -> str:
        data = self.log.read_bytes()[start:end]
        return data.decode("utf-8", "replace")

    def terminate(self, seconds: float = 10) -> tuple[int | None, float]:
        """SIGTERM, then wait: (exit status, or None when it had to be killed; seconds taken)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status: int | None = self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
            status = None
        return status, time.monotonic() - started
