"""Subgraph processes for the fault suite: `python -m subgraph serve`, as an operator runs it,
on a given store, and killed with SIGKILL when a scenario says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.hostile.server import NAMESPACES, ROOT, free_port

REQUEST_TIMEOUT_SECONDS = 10  # the store's own timeout: a slow answer is not cut short


class Subgraph:
    """One server process on a free port over `store`; its output goes to `<name>.log`."""

    def __init__(self, store: str, workdir: Path, name: str) -> None:
        self.store = store
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUBGRAPH_")}
        env |= {"SUBGRAPH_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_SECONDS),
                "SUBGRAPH_TOKEN_SECRET": "fault-suite", "SUBGRAPH_LOG_LEVEL": "INFO"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "subgraph", "serve", "--port", str(self.port),
                 "--store", store, "--namespaces", str(NAMESPACES)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, seconds: float = 120) -> None:
        """Wait for /readyz (the store answers): on Cassandra the keyspace is made first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready in {seconds:.0f}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no flush of fire-and-forget buffers."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)

    def terminate(self, seconds: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after `seconds`; the exit status (None when killed)."""
        if not self.alive():
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_bytes()[-size:].decode("utf-8", "replace")

    def log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)
