"""The graphql-js peer (bench/peer/peer.mjs) as a long-lived subprocess, one JSON line each way.

Kept alive for the whole benchmark so that its runs can alternate with ours (round by round), and
installed with `npm ci` from the committed lockfile the first time it is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

PEER_DIR = Path(__file__).resolve().parent / "peer"
NODE_MODULES = PEER_DIR / "node_modules"
# npm rewrites this copy of the lockfile on every install: its presence means an install finished.
_INSTALLED = NODE_MODULES / ".package-lock.json"
_INSTALL_LOCK = PEER_DIR / ".npm-ci.lock"


class PeerUnavailable(RuntimeError):
    """Node or npm is missing, or the install failed: the comparison is skipped with this reason."""


def _installed() -> bool:
    lock = PEER_DIR / "package-lock.json"
    return _INSTALLED.exists() and _INSTALLED.stat().st_mtime >= lock.stat().st_mtime


def ensure_installed() -> None:
    """`npm ci` in bench/peer when node_modules is missing or older than the lockfile."""
    if _installed():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("node and npm are not installed")
    with _INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR, capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-2000:]
            raise PeerUnavailable(f"npm ci failed in {PEER_DIR} (exit {done.returncode}): {tail}")


class NodePeer:
    """peer.mjs, set up with our SDL, the query, its variables and the prepared data."""

    def __init__(self, sdl: str, query: str, variables: dict[str, Any], data: dict[str, Any]):
        ensure_installed()
        node = shutil.which("node")
        if node is None:
            raise PeerUnavailable("node is not installed")
        self._proc = subprocess.Popen(
            [node, "peer.mjs"], cwd=PEER_DIR, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        hello = self._ask({"sdl": sdl, "query": query, "variables": variables, "data": data})
        self.versions: dict[str, str] = hello["versions"]
        self.results: dict[str, Any] = hello["results"]

    def time(self, mode: str, *, warmup: int, runs: int) -> list[float]:
        """Milliseconds per request of `runs` requests in `mode` ("execute" or "apollo")."""
        answer = self._ask({"op": "time", "mode": mode, "warmup": warmup, "samples": runs})
        return [float(x) for x in answer["samples_ms"]]

    def cpu_ms(self, mode: str, *, warmup: int, runs: int) -> float:
        """CPU milliseconds of the Node process per request, over `runs` requests in `mode`."""
        answer = self._ask({"op": "cpu", "mode": mode, "warmup": warmup, "samples": runs})
        return float(answer["cpu_ms_per_run"])

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._send({"op": "quit"})
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> NodePeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdout is not None and self._proc.stderr is not None
        with contextlib.suppress(OSError):  # the peer died: its stderr says why, below
            self._send(message)
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            raise PeerUnavailable(f"peer.mjs exited: {self._proc.stderr.read()[-2000:]}")
        return json.loads(line)
