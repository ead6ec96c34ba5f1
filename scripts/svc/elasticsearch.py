"""Elasticsearch 9.2 for tests: one node from Maven Central jars, in its own JVM.

Why this shape: as for OpenSearch (``opensearch.py``), no distribution download, but Maven Central
serves the server jar (``org.elasticsearch:elasticsearch``, with every dependency) and the HTTP
module (``org.elasticsearch.plugin:transport-netty4``). A tiny Maven project next to this file
(``elasticsearch/pom.xml``; ``DataGatewayTestNode``, a ``Node`` built as Elasticsearch's own
integration tests build theirs, with the module as a classpath plugin) is compiled once; its
classes and resolved classpath are cached under ``~/.cache/data-gateway/elasticsearch-<version>/``
so later starts skip Maven.

Why 9.2.2: the newest Elasticsearch whose HTTP module is on Maven Central (checked 2026-12-01:
``transport-netty4`` is there for 8.19.0, 9.0.0, 9.1.0, 9.2.0 and 9.2.2, not for 9.2.1, 9.2.3 to
9.2.6 or 9.3.0, whose server jars are). 9.x needs Java 21 or later: the node runs on the
machine's Temurin 25 (the JDK Elasticsearch 9.2 bundles), or a JDK 21 to 24 when there is one
and no 25. (JDK 17 cannot load 9.x's classes; 8.19, which runs on 17, would have been the
fallback, with the 8.x Python client: a 9.x client's ``compatible-with=9`` is refused by 8.x.) The
distribution's launcher sets up entitlements (9.x's replacement for the security manager: an
agent instrumenting the JDK) and bootstrap checks; the test node, like ``MockNode`` in
Elasticsearch's test framework, needs neither. Security is off: X-Pack is not on the classpath,
so the node speaks plain HTTP without authentication, on 127.0.0.1 only.

Layout under ``<repo>/.run/elasticsearch/``: ``home/config`` (elasticsearch.yml,
log4j2.properties, rewritten on every start), ``data/`` (kept across restarts, removed by
``--wipe``), ``tmp/``, ``elasticsearch.log`` (the JVM's stdout/stderr) and ``elasticsearch.pid``.

Ports: HTTP 9230 and transport 9330 (HTTP + 100), so the node runs beside OpenSearch's 9200/9210;
``DATA_GATEWAY_ELASTICSEARCH_PORT`` moves the HTTP port (transport follows), so several work
trees can run nodes side by side.

Usable on its own: ``python3 scripts/svc/elasticsearch.py start [--wipe] [--timeout S]|stop|
status``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from common import (
    ServiceError,
    build_java_project,
    cache_root,
    find_java_home,
    http_get,
    java_major,
    launch_until_healthy,
    locked,
    log,
    pid_alive,
    port_open,
    read_pid,
    run_dir,
    search_jvm_flags,
    service_main,
    stop_pid,
    tail,
    wait_until,
)

VERSION = "9.2.2"  # must equal <elasticsearch.version> in elasticsearch/pom.xml (cache key)
HOST = "127.0.0.1"
HTTP_PORT = 9230
PORT_VARIABLE = "DATA_GATEWAY_ELASTICSEARCH_PORT"
TRANSPORT_OFFSET = 100  # transport port = HTTP port + this (9330)
CLUSTER_NAME = "data-gateway-test"
NODE_NAME = "test-node"
HEAP = "512m"
JAVA_ACCEPTED = (25, 21, 24, 23, 22)  # 9.x is compiled for 21; 9.2 bundles 25
DEFAULT_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
MAIN_CLASS = "org.elasticsearch.node.DataGatewayTestNode"
NAME = "elasticsearch"

PROJECT_DIR = Path(__file__).resolve().parent / "elasticsearch"
"""The Maven project (pom.xml, src/) and the log4j2.properties template."""


# --------------------------------------------------------------------------- locations


def http_port() -> int:
    """The HTTP port the next start uses: ``DATA_GATEWAY_ELASTICSEARCH_PORT`` or 9230."""
    text = os.environ.get(PORT_VARIABLE, "")
    if not text:
        return HTTP_PORT
    if not text.isdigit() or not 0 < int(text) < 65536 - TRANSPORT_OFFSET:
        raise ServiceError(f"{PORT_VARIABLE} must be a port number, got {text!r}")
    return int(text)


def _run() -> Path:
    return run_dir(NAME)


def _home() -> Path:
    return _run() / "home"


def _data() -> Path:
    return _run() / "data"


def _pid_file() -> Path:
    return _run() / "elasticsearch.pid"


def _log_file() -> Path:
    return _run() / "elasticsearch.log"


def _marker() -> str:
    """A string only our JVM's command line holds (its home), so a recycled PID is never hit."""
    return f"-Des.path.home={_home()}"


def _running_pid() -> int | None:
    pid = read_pid(_pid_file())
    return pid if pid is not None and pid_alive(pid, _marker()) else None


def _running_port() -> int:
    """The HTTP port of the node on disk (its elasticsearch.yml), else the next start's."""
    try:
        text = (_home() / "config" / "elasticsearch.yml").read_text()
    except OSError:
        return http_port()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "http.port" and value.strip().isdigit():
            return int(value.strip())
    return http_port()


def _url(port: int) -> str:
    return f"http://{HOST}:{port}"


def _java_home() -> Path:
    """A JDK Elasticsearch 9 runs on (21 or later), or an error that says where to get one."""
    try:
        return find_java_home(JAVA_ACCEPTED)
    except ServiceError:
        raise ServiceError(
            f"Elasticsearch {VERSION} needs a JDK 21 or later (found none in $JAVA_HOME or "
            "/usr/lib/jvm; Debian 12 packages only 17): install one, e.g. Temurin 25, or point "
            "JAVA_HOME at it"
        ) from None


# --------------------------------------------------------------------------- node files


def _elasticsearch_yml(port: int) -> str:
    """Node settings; values are JSON-quoted, which YAML reads as plain strings."""
    settings: dict[str, object] = {
        "cluster.name": CLUSTER_NAME,
        "node.name": NODE_NAME,
        "path.data": str(_data()),
        "path.logs": str(_run() / "logs"),
        "network.host": HOST,
        "http.port": port,
        "transport.port": port + TRANSPORT_OFFSET,
        # No discovery, no cluster bootstrapping.
        "discovery.type": "single-node",
        # A nearly full disk on a dev machine must not turn test indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": False,
        # action.destructive_requires_name stays at its default (true since 8.0): a delete
        # must name its indices, as on a production cluster, and the search backend does.
    }
    lines = ["# Written by scripts/svc/elasticsearch.py on every start; edits are lost."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _prepare_home(port: int) -> None:
    """Create path.home with its config; empty modules/ and plugins/ as Node expects them."""
    config = _home() / "config"
    for path in (config, _home() / "modules", _home() / "plugins", _data(),
                 _run() / "logs", _run() / "tmp"):
        path.mkdir(parents=True, exist_ok=True)
    (config / "elasticsearch.yml").write_text(_elasticsearch_yml(port))
    shutil.copy2(PROJECT_DIR / "config" / "log4j2.properties", config / "log4j2.properties")


def _jvm_command(java_home: Path, classpath: list[Path]) -> list[str]:
    """The JVM flags of the distribution's jvm.options that matter without its launcher."""
    newer = [] if (java_major(java_home) or 0) < 24 else [
        # Lucene and HPPC still read memory through sun.misc.Unsafe; JDK 24+ warns once.
        "--sun-misc-unsafe-memory-access=allow",
    ]
    return [
        str(java_home / "bin" / "java"),
        *search_jvm_flags(HEAP, _run()),
        # Native access through the FFM API from the classpath (no native libraries are on
        # Maven Central, so the node logs that native methods are off, which tests do not need).
        "--enable-native-access=ALL-UNNAMED",
        *newer,
        "-Djava.locale.providers=CLDR",
        "-Dlog4j2.formatMsgNoLookups=true",
        _marker(),
        "-cp",
        os.pathsep.join(str(p) for p in classpath),
        MAIN_CLASS,
    ]


# --------------------------------------------------------------------------- HTTP


def _get_json(port: int, path: str) -> dict[str, object] | None:
    """GET ``path`` as JSON, or None when nothing (valid) answers."""
    answer = http_get(_url(port) + path)
    if answer is None or not 200 <= answer[0] < 300:
        return None
    try:
        body = json.loads(answer[1])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _healthy(port: int) -> bool:
    """Cluster health is usable: yellow (unassigned replicas) is fine on one node."""
    health = _get_json(port, "/_cluster/health")
    return health is not None and health.get("status") in ("green", "yellow")


def _version(port: int) -> str:
    """The node's version (``GET /`` needs the rest-root module, which Maven Central lacks)."""
    nodes = _get_json(port, "/_nodes/_local?filter_path=nodes.*.version")
    found = nodes.get("nodes") if nodes else None
    if isinstance(found, dict):
        for node in found.values():
            if isinstance(node, dict):
                return str(node.get("version"))
    return "?"


# --------------------------------------------------------------------------- lifecycle


def _failure(why: str) -> ServiceError:
    """An error that carries the JVM log's tail, which is where the real reason is."""
    return ServiceError(
        f"Elasticsearch {why}.\n--- {_log_file()} (tail) ---\n{tail(_log_file(), 60)}"
    )


def _stop_running(pid: int) -> None:
    stop_pid(pid, _marker(), timeout=STOP_TIMEOUT)
    _pid_file().unlink(missing_ok=True)


def start(args: argparse.Namespace) -> None:
    """Start the node (no-op when it runs), wait for green/yellow health, print its URL."""
    if (getattr(args, "nodes", 1) or 1) != 1:
        raise ServiceError("elasticsearch runs as a single node; --nodes is not supported")
    timeout = float(getattr(args, "timeout", None) or DEFAULT_TIMEOUT)
    wipe = bool(getattr(args, "wipe", False))
    with locked(_run() / ".lock"):
        pid = _running_pid()
        if pid is not None and wipe:
            log(f"{NAME}: stopping the running node (pid {pid}) before wiping")
            _stop_running(pid)
            pid = None
        if pid is not None:
            running, port = pid, _running_port()
            if not wait_until(lambda: _healthy(port), timeout,
                              alive=lambda: pid_alive(running, _marker())):
                raise _failure(f"runs (pid {running}) but its health is not green/yellow")
            print(_url(port), flush=True)
            return

        _pid_file().unlink(missing_ok=True)  # stale: its process is gone
        if wipe:
            log(f"{NAME}: wiping {_data()}")
            shutil.rmtree(_data(), ignore_errors=True)
        port = http_port()
        for taken in (port, port + TRANSPORT_OFFSET):
            if port_open(HOST, taken):
                raise ServiceError(
                    f"{HOST}:{taken} is already in use by a process this run dir did not start "
                    f"({_pid_file()} names none); stop it first, or set {PORT_VARIABLE}"
                )
        java_home = _java_home()
        classpath = build_java_project(
            PROJECT_DIR, cache_root() / f"elasticsearch-{VERSION}", java_home, MAIN_CLASS,
            f"the Elasticsearch {VERSION} test node",
        )
        _prepare_home(port)
        began = time.monotonic()
        launch_until_healthy(
            _jvm_command(java_home, classpath), label=NAME, run=_run(), log_path=_log_file(),
            pid_file=_pid_file(),
            waiting_for=f"{_url(port)}/_cluster/health (heap {HEAP}, JDK {java_major(java_home)})",
            healthy=lambda: _healthy(port), timeout=timeout, failure=_failure,
            stop=_stop_running,
        )
        log(f"{NAME}: {_version(port)} ready at {_url(port)} in "
            f"{time.monotonic() - began:.1f}s")
    print(_url(port), flush=True)


def stop(args: argparse.Namespace) -> None:
    """Stop the node this run dir started (by PID); fine when nothing runs."""
    with locked(_run() / ".lock"):
        pid = _running_pid()
        if pid is None:
            _pid_file().unlink(missing_ok=True)
            log(f"{NAME}: not running")
            return
        _stop_running(pid)
    log(f"{NAME}: stopped pid {pid}")


def status() -> str:
    """Stopped, starting, or running with PID, URL and health."""
    pid = _running_pid()
    if pid is None:
        return f"{NAME}: stopped"
    port = _running_port()
    health = _get_json(port, "/_cluster/health")
    if health is None:
        return f"{NAME}: starting (HTTP not answering yet), pid {pid}, {_url(port)}"
    return f"{NAME}: running, pid {pid}, {_url(port)} (cluster {health.get('status')})"


if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], __doc__, start=start, stop=stop, status=status))
