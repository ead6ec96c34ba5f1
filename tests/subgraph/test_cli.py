"""The command line, run as a user would: `python -m subgraph seed | serve`."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from subgraph.__main__ import _parser
from subgraph.app import Settings, open_gateway

ROOT = Path(__file__).resolve().parents[2]


def clean_env() -> dict[str, str]:
    """This environment without SUBGRAPH_* settings, so the CLI sees only its arguments."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SUBGRAPH_")}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "subgraph", *args], cwd=ROOT, env=clean_env(),
        capture_output=True, text=True, timeout=60, check=False,
    )


async def test_seed_writes_the_demo_data_once(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/x.db"
    first = cli("seed", "--store", store)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "demo data written"
    second = cli("seed", "--store", store)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "demo data already present"

    gateway = open_gateway(Settings(store))
    await gateway.start(background=False)
    try:
        page = await gateway.timeseries.read_events("viewing_history", "p1", limit=50)
        plays = await gateway.counters.get("profile_plays", "p1")
    finally:
        await gateway.stop()
    assert len(page.events) == 6  # written once, not twice
    assert plays == 6


COMMANDS = ["serve", "seed", "reindex", "export-slices", "rotate-token-key", "repair-counters",
            "export-schema"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_options_default(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("SUBGRAPH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SUBGRAPH_STORE", "cassandra://gateway:s3cr%40t@10.0.0.1/gateway")
    parser = _parser()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    subparser = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    options = [a for a in subparser._actions  # those that may be left out: not `namespace`
               if (a.option_strings or a.nargs in ("*", "?")) and a.dest != "help"]
    assert text.count("default:") == len(options), text
    if command == "serve":
        assert "(env SUBGRAPH_PORT; default: 4001)" in text
        assert "(env SUBGRAPH_AUTH; default: none)" in text
    if command != "export-schema":  # the environment's value is the default, password hidden
        assert "default: cassandra://gateway:***@10.0.0.1/gateway)" in text
        assert "s3cr" not in text


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_serve_takes_port_and_host_from_its_command_line() -> None:
    def serve_line(*args: str, **env: str) -> str:
        out = subprocess.run(
            ["make", "-n", "serve", *args], cwd=ROOT,
            env={**{k: v for k, v in clean_env().items() if k not in ("HOST", "PORT")}, **env},
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        return next(line for line in out.splitlines() if "-m subgraph serve" in line)

    assert serve_line("PORT=4005", "HOST=::1").split()[-4:] == [
        "--host", "'::1'", "--port", "'4005'"]
    assert serve_line().split()[-1] == "--demo"
    # The environment's HOST is often the machine's name (tcsh): only PORT is taken from it.
    assert serve_line(HOST="machine", PORT="4010").split()[-3:] == ["--demo", "--port", "'4010'"]


def test_reindex_of_an_unknown_namespace_says_so_first(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = cli("reindex", "nope", "--store", f"sqlite:///{db}")  # and no --search
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown namespace 'nope'"
    assert not db.exists()  # refused before the store was opened
    result = cli("reindex", "viewing_history", "--store", f"sqlite:///{db}")
    assert result.returncode == 1
    assert "needs a search index" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`python -m subgraph serve --demo` on a free port (with the test's `server_args` mark's
    arguments); killed if a test leaves it running."""
    port = free_port()
    log = tmp_path / "serve.log"
    mark = request.node.get_closest_marker("server_args")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", "--port", str(port),
             "--store", f"sqlite:///{tmp_path}/db", "--demo", *(mark.args if mark else ())],
            cwd=ROOT, env=clean_env(), stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=15)


def wait_until_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server did not become healthy:\n{log.read_text()}")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_serve_answers_over_http_and_exits_cleanly_on_sigterm(
    server: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, log = server
    wait_until_healthy(process, base, log)
    # uvicorn's C event loop and HTTP parser when they are installed (pyproject.toml has both).
    loop = "uvloop" if installed("uvloop") else "asyncio"
    http = "httptools" if installed("httptools") else "h11"
    assert f"event loop {loop}, HTTP parser {http}" in log.read_text()
    query = """{ _entities(representations: [{__typename: "Profile", id: "p1"}]) {
      ... on Profile { viewingHistory { edges { node { title { id } device } } }
                       playCount { count } } } }"""
    response = httpx.post(f"{base}/graphql", json={"query": query}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    [profile] = body["data"]["_entities"]
    assert len(profile["viewingHistory"]["edges"]) == 6
    assert profile["playCount"] == {"count": "6"}

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0, log.read_text()


@pytest.mark.server_args("--loop", "asyncio", "--http", "h11")
def test_serve_runs_on_asyncio_and_h11_when_asked(
    server: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, log = server
    wait_until_healthy(process, base, log)
    assert "event loop asyncio, HTTP parser h11" in log.read_text()
    response = httpx.post(f"{base}/graphql", json={"query": "{ namespaces { name } }"},
                          timeout=10)
    assert response.status_code == 200 and "errors" not in response.json()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0, log.read_text()


@pytest.mark.parametrize("parser", [
    pytest.param("h11", marks=pytest.mark.server_args("--http", "h11")),
    pytest.param("httptools", marks=pytest.mark.server_args("--http", "httptools")),
])
def test_a_request_is_answered_before_the_bytes_after_it_are_refused(
    server: tuple[subprocess.Popen[bytes], str, Path], parser: str
) -> None:
    """Bytes that are not HTTP after whole requests (a body longer than its Content-Length):
    the requests are answered (JSON, as every answer of the view), then what follows them is
    refused and the connection closed."""
    if not installed(parser):
        pytest.skip(f"{parser} is not installed")
    process, base, log = server
    wait_until_healthy(process, base, log)
    body = b'{"query":"{ __typename }"}'
    head = (b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        # Two requests (pipelined) and what follows them, in one write.
        conn.sendall((head + body) * 2 + b"this is not HTTP\r\n\r\n")
        received = b""
        while chunk := conn.recv(65536):  # until the server closes the connection
            received += chunk
    answer = b'{"data":{"__typename":"Query"}}'
    rest = received
    for _ in range(2):
        head_of_answer, _, rest = rest.partition(b"\r\n\r\n")
        assert head_of_answer.startswith(b"HTTP/1.1 200"), received
        assert b"content-type: application/json" in head_of_answer.lower()
        assert rest.startswith(answer), received
        rest = rest[len(answer):]
    assert rest.startswith(b"HTTP/1.1 400"), received


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SUBGRAPH_LOOP", "tokio", "--loop (SUBGRAPH_LOOP) must be one of auto, asyncio, uvloop"),
    ("SUBGRAPH_HTTP", "h2", "--http (SUBGRAPH_HTTP) must be one of auto, h11, httptools"),
    ("SUBGRAPH_GC_THRESHOLD", "lots", "SUBGRAPH_GC_THRESHOLD='lots': a whole number"),
    ("SUBGRAPH_GC_THRESHOLD", "-5", "SUBGRAPH_GC_THRESHOLD='-5': a whole number"),
])
def test_serve_refuses_a_loop_or_parser_it_does_not_know(
    name: str, value: str, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "subgraph", "serve", "--port", "1"], cwd=ROOT,
        env={**clean_env(), name: value}, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_sigterm_stops_the_server_within_its_drain_period_with_hostile_requests_in_flight(
    server: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    """A fragment chain once blocked the event loop for minutes and SIGTERM went unheard."""
    process, base, log = server
    wait_until_healthy(process, base, log)
    chain = "query { ...F39 }\nfragment F0 on Query { __typename }\n" + "\n".join(
        f"fragment F{i} on Query {{ ...F{i-1} ...F{i-1} ...F{i-1} }}" for i in range(1, 40)
    )
    bodies = [{"query": chain}] * 10 + [{"query": "{ namespaces { name } }"}] * 10

    async def load() -> list[int]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            return [r.status_code for r in await asyncio.gather(
                *(client.post("/graphql", json=body) for body in bodies)
            )]

    statuses = asyncio.run(load())
    assert all(status == 200 for status in statuses), statuses
    assert httpx.get(f"{base}/healthz", timeout=2).status_code == 200

    # Requests in flight when SIGTERM arrives: the server still stops within its drain period.
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/healthz")  # a kept-alive connection stays open
        pending = subprocess.Popen(
            [sys.executable, "-c", "import httpx, sys; [httpx.post(sys.argv[1], json="
             "{'query': sys.argv[2]}, timeout=30) for _ in range(50)]",
             f"{base}/graphql", chain],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, log.read_text()
        assert time.monotonic() - started < 12  # the drain period (10 s by default)
        pending.kill()
        pending.wait()


def _json_lines(log: Path) -> list[dict[str, object]]:
    """Every line of a log written with SUBGRAPH_LOG_FORMAT=json (each must be JSON)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_serve_with_two_workers_shows_every_workers_requests_in_metrics(tmp_path: Path) -> None:
    """Requests spread over the workers; /metrics, whichever worker answers, counts them all,
    and the folder the workers shared them in is gone after the server stops."""
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**clean_env(), "SUBGRAPH_LOG_FORMAT": "json", "TMPDIR": str(temp)}
    for name in ("PROMETHEUS_MULTIPROC_DIR", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", "--port", str(port), "--workers", "2",
             "--store", f"sqlite:///{tmp_path}/db"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(process, base, log)
        deadline = time.monotonic() + 60
        while sum("startup complete" in str(line["message"]) for line in _json_lines(log)) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

        async def burst(n: int) -> list[int]:
            fresh = httpx.Limits(max_keepalive_connections=0)  # a connection per request
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=fresh) as client:
                return [r.status_code for r in await asyncio.gather(*(
                    client.post("/graphql", json={"query": "query Spread { __typename }"})
                    for _ in range(n)
                ))]

        sent = 0
        served: set[object] = set()
        while len(served) < 2:
            assert sent < 400, "every request went to one worker"
            assert asyncio.run(burst(40)) == [200] * 40
            sent += 40
            while True:  # each worker logs a request once it has answered it
                lines = [line for line in _json_lines(log)
                         if line["logger"] == "subgraph.requests"
                         and line["operation_name"] == "Spread"]
                if len(lines) == sent:
                    break
                time.sleep(0.05)
            served = {line["pid"] for line in lines}
        counted = "subgraph_request_duration_seconds_count"
        for _ in range(6):  # scrapes answered by either worker
            text = httpx.get(f"{base}/metrics", headers={"connection": "close"}, timeout=5).text
            [sample] = [s for f in text_string_to_metric_families(text) for s in f.samples
                        if s.name == counted and s.labels.get("operation_name") == "Spread"]
            assert sample.value == sent
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)
    assert not list(temp.glob("subgraph-metrics-*"))
    assert all(line["level"] != "ERROR" for line in _json_lines(log)), log.read_text()
