"""Cursors across processes, run as a user would: `serve --workers 2`, restarts, and
`rotate-token-key`, with no secret configured."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from .test_cli import ROOT, clean_env, cli, free_port, wait_until_healthy

HISTORY = """query ($after: String) {
  _entities(representations: [{__typename: "Profile", id: "p1"}]) {
    ... on Profile {
      viewingHistory(first: 3, after: $after) {
        edges { node { id } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"""


@contextlib.contextmanager
def serving(tmp_path: Path, store: str, *args: str) -> Iterator[str]:
    """`python -m subgraph serve` in its own process group; stopped with SIGTERM, and the
    whole group (uvicorn's workers too) killed if it does not stop."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", "--port", str(port), "--store", store,
             *args],
            cwd=ROOT, env=clean_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, log)
        yield base
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def history(base: str, after: str | None = None) -> dict[str, Any]:
    """One page of p1's viewing history, over a new connection (so any worker may answer)."""
    response = httpx.post(f"{base}/graphql", timeout=10,
                          json={"query": HISTORY, "variables": {"after": after}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["_entities"][0]["viewingHistory"]


def ids(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


def seeded(tmp_path: Path) -> str:
    store = f"sqlite:///{tmp_path}/gateway.db"
    result = cli("seed", "--store", store)
    assert result.returncode == 0, result.stderr
    return store


def test_two_workers_page_with_each_others_cursors(tmp_path: Path) -> None:
    """Each worker once signed with a random key of its own: most second pages failed."""
    store = seeded(tmp_path)
    with serving(tmp_path, store, "--workers", "2") as base:
        for _ in range(10):
            first = history(base)
            assert first["pageInfo"]["hasNextPage"]
            second = history(base, first["pageInfo"]["endCursor"])
            assert len(ids(second)) == 3 and not set(ids(second)) & set(ids(first))


def test_a_cursor_survives_a_restart_of_the_server(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    with serving(tmp_path, store) as base:
        first = history(base)
    with serving(tmp_path, store) as base:
        second = history(base, first["pageInfo"]["endCursor"])
    assert len(ids(second)) == 3 and not set(ids(second)) & set(ids(first))


def test_rotate_token_key_keeps_cursors_of_the_old_key_working(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    with serving(tmp_path, store) as base:
        first = history(base)
        rotated = cli("rotate-token-key", "--store", store, "--grace-seconds", "3600")
        assert rotated.returncode == 0, rotated.stderr
        assert "is in service" in rotated.stdout and "accepted until" in rotated.stdout
        assert len(ids(history(base, first["pageInfo"]["endCursor"]))) == 3
    with serving(tmp_path, store) as base:  # a restart signs with the new key, accepts the old
        assert len(ids(history(base, first["pageInfo"]["endCursor"]))) == 3
        again = history(base)
        assert again["pageInfo"]["endCursor"] != first["pageInfo"]["endCursor"]


def test_rotate_token_key_refuses_when_the_secret_comes_from_the_environment(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "subgraph", "rotate-token-key", "--store",
         f"sqlite:///{tmp_path}/gateway.db"],
        cwd=ROOT, env={**clean_env(), "SUBGRAPH_TOKEN_SECRET": "s"}, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "SUBGRAPH_TOKEN_SECRET_PREVIOUS" in result.stderr
