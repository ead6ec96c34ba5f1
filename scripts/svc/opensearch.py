"""OpenSearch 2.19 for tests: one node from Maven Central jars, in its own JVM.

Why this shape: no Docker and no distribution tarball here, but Maven Central serves the server
jar and the modules the data gateway needs (HTTP via ``transport-netty4-client``, delete-by-query
via ``reindex-client``, ``analysis-common``, ``lang-painless``, ``mapper-extras-client``). A tiny
Maven project next to this file (``opensearch/pom.xml`` and ``TestNode.java``, a ``Node`` subclass
that takes those modules as classpath plugins) is compiled once; its classes and resolved classpath
are cached under ``~/.cache/data-gateway/opensearch-<version>/`` so later starts skip Maven.

Layout under ``<repo>/.run/opensearch/``: ``home/config`` (opensearch.yml, log4j2.properties,
rewritten on every start), ``data/`` (kept across restarts, removed by ``--wipe``), ``tmp/``,
``opensearch.log`` (the JVM's stdout/stderr) and ``opensearch.pid``.

Usable on its own: ``python3 scripts/svc/opensearch.py start [--wipe] [--timeout S]|stop|status``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import (
    ServiceError,
    cache_root,
    find_java_home,
    http_get,
    locked,
    log,
    pid_alive,
    port_open,
    read_pid,
    run_dir,
    spawn_detached,
    stop_pid,
    tail,
    wait_for_http,
    write_pid,
)

VERSION = "2.19.6"  # must equal <opensearch.version> in opensearch/pom.xml (cache key, messages)
HOST = "127.0.0.1"
HTTP_PORT = 9200
TRANSPORT_PORT = 9300
URL = f"http://{HOST}:{HTTP_PORT}"
CLUSTER_NAME = "data-gateway-test"
NODE_NAME = "test-node"
HEAP = "512m"
JAVA_PREFERRED = (17,)  # what the project standardises on
JAVA_FALLBACK = (21, 11)  # also supported by OpenSearch 2.19; never the machine's JDK 25
DEFAULT_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
MAIN_CLASS = "datagateway.opensearch.TestNode"

PROJECT_DIR = Path(__file__).resolve().parent / "opensearch"
"""The Maven project (pom.xml, src/) and the log4j2.properties template."""


# --------------------------------------------------------------------------- locations


def _run() -> Path:
    return run_dir("opensearch")


def _home() -> Path:
    return _run() / "home"


def _data() -> Path:
    return _run() / "data"


def _pid_file() -> Path:
    return _run() / "opensearch.pid"


def _log_file() -> Path:
    return _run() / "opensearch.log"


def _marker() -> str:
    """A string only our JVM's command line holds (its home), so a recycled PID is never hit."""
    return f"-Dopensearch.path.home={_home()}"


def _running_pid() -> int | None:
    """The PID of the node this run dir started, when that process is still alive."""
    pid = read_pid(_pid_file())
    return pid if pid is not None and pid_alive(pid, _marker()) else None


# --------------------------------------------------------------------------- build


def _java_home() -> Path:
    """JDK 17 when there is one (``$JAVA_HOME`` may name another), else 21 or 11."""
    try:
        return find_java_home(JAVA_PREFERRED)
    except ServiceError:
        return find_java_home(JAVA_FALLBACK)


def _project_digest(java_home: Path) -> str:
    """Hash of everything the build depends on, so an edited pom or class rebuilds by itself."""
    digest = hashlib.sha256(str(java_home).encode() + b"\0")
    files = [PROJECT_DIR / "pom.xml", *sorted((PROJECT_DIR / "src").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read_classpath(cp_file: Path) -> list[Path]:
    return [Path(p) for p in cp_file.read_text().strip().split(os.pathsep) if p]


def _build(java_home: Path) -> list[Path]:
    """Compiled launcher classes plus its jars; Maven runs only when the cache is stale.

    The project is copied into the cache so ``target/`` never lands in the repository.
    """
    cache = cache_root() / f"opensearch-{VERSION}"
    build = cache / "build"
    classes = build / "target" / "classes"
    cp_file = cache / "classpath.txt"
    stamp = cache / "build.sha256"
    digest = _project_digest(java_home)
    with locked(cache / ".lock"):
        if stamp.exists() and stamp.read_text().strip() == digest and cp_file.exists():
            jars = _read_classpath(cp_file)
            main_class = classes / (MAIN_CLASS.replace(".", "/") + ".class")
            if jars and main_class.exists() and all(j.exists() for j in jars):
                return [classes, *jars]

        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(
                "Maven ('mvn') is not on PATH; install it, e.g. apt-get install maven"
            )
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        shutil.copy2(PROJECT_DIR / "pom.xml", build / "pom.xml")
        shutil.copytree(PROJECT_DIR / "src", build / "src")
        stamp.unlink(missing_ok=True)
        tmp_cp = cache / "classpath.txt.tmp"
        maven_log = cache / "maven.log"
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(build / "pom.xml"),
            "compile",
            "dependency:build-classpath",
            "-Dmdep.includeScope=runtime",
            f"-Dmdep.outputFile={tmp_cp}",
        ]
        log(f"building the OpenSearch {VERSION} test node with Maven (cached in {cache}) ...")
        env = dict(os.environ, JAVA_HOME=str(java_home))
        with maven_log.open("wb") as out:
            result = subprocess.run(
                cmd, cwd=build, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
        if result.returncode != 0 or not tmp_cp.exists():
            raise ServiceError(
                f"Maven failed (exit {result.returncode}); log {maven_log}:\n{tail(maven_log)}"
            )
        tmp_cp.replace(cp_file)
        stamp.write_text(digest + "\n")
        return [classes, *_read_classpath(cp_file)]


# --------------------------------------------------------------------------- node files


def _opensearch_yml() -> str:
    """Node settings; values are JSON-quoted, which YAML reads as plain strings."""
    settings: dict[str, object] = {
        "cluster.name": CLUSTER_NAME,
        "node.name": NODE_NAME,
        "path.data": str(_data()),
        "path.logs": str(_run() / "logs"),
        "network.host": HOST,
        "http.port": HTTP_PORT,
        "transport.port": TRANSPORT_PORT,
        # No discovery, no cluster bootstrapping, no production bootstrap checks.
        "discovery.type": "single-node",
        # A nearly full disk on a dev machine must not turn test indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    lines = ["# Written by scripts/svc/opensearch.py on every start; edits are lost."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _prepare_home() -> None:
    """Create path.home with its config; empty modules/ and plugins/ as Node expects them."""
    config = _home() / "config"
    for path in (
        config,
        _home() / "modules",
        _home() / "plugins",
        _data(),
        _run() / "logs",
        _run() / "tmp",
    ):
        path.mkdir(parents=True, exist_ok=True)
    (config / "opensearch.yml").write_text(_opensearch_yml())
    shutil.copy2(PROJECT_DIR / "config" / "log4j2.properties", config / "log4j2.properties")


def _jvm_command(java: Path, classpath: list[Path]) -> list[str]:
    """The JVM flags a distribution's launcher would add that matter without a security manager."""
    run = _run()
    return [
        str(java),
        f"-Xms{HEAP}",
        f"-Xmx{HEAP}",
        "-Xss1m",
        "-XX:+UseG1GC",
        "-XX:-OmitStackTraceInFastThrow",
        "-XX:+ExitOnOutOfMemoryError",
        f"-XX:ErrorFile={run / 'logs' / 'hs_err_pid%p.log'}",
        f"-Djava.io.tmpdir={run / 'tmp'}",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        # Date/number parsing as the distribution does on JDK 17 (CLDR alone differs slightly).
        "-Djava.locale.providers=SPI,COMPAT",
        "-Djna.nosys=true",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dio.netty.allocator.numDirectArenas=0",
        "-Dlog4j2.disable.jmx=true",
        # Our shutdown hook closes the node and still wants to log while doing so.
        "-Dlog4j.shutdownHookEnabled=false",
        f"-Dlog4j2.configurationFile={_home() / 'config' / 'log4j2.properties'}",
        _marker(),
        "-cp",
        os.pathsep.join(str(p) for p in classpath),
        MAIN_CLASS,
    ]


# --------------------------------------------------------------------------- HTTP


def _get_json(path: str, timeout: float = 2.0) -> dict[str, object] | None:
    """GET ``URL + path`` as JSON, or None when nothing (valid) answers."""
    answer = http_get(URL + path, timeout=timeout)
    if answer is None:
        return None
    try:
        body = json.loads(answer[1])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _put_json(path: str, body: dict[str, object], timeout: float = 30.0) -> None:
    """PUT a JSON body to ``URL + path``; a non-2xx answer is a ServiceError."""
    request = urllib.request.Request(
        URL + path,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise ServiceError(f"PUT {path} failed: {error.code} {error.read()[:500]!r}") from error
    except OSError as error:
        raise ServiceError(f"PUT {path} failed: {error}") from error


def _default_no_replicas() -> None:
    """Make new indices default to 0 replicas, so they go green on a single node.

    ``cluster.default_number_of_replicas`` is read from the cluster state's settings when an
    index is created; in opensearch.yml it is accepted but has no effect, so it is set here as a
    persistent cluster setting (kept in the data directory, idempotent). Explicit
    ``number_of_replicas`` in a request or template still wins.
    """
    _put_json("/_cluster/settings", {"persistent": {"cluster.default_number_of_replicas": 0}})


def _healthy(status: int, body: bytes) -> bool:
    """Cluster health is usable: yellow (unassigned replicas) is fine on one node."""
    if status != 200:
        return False
    try:
        return json.loads(body).get("status") in ("green", "yellow")
    except (ValueError, AttributeError):
        return False


def _version() -> str:
    info = _get_json("/")
    version = info.get("version") if info else None
    return str(version.get("number")) if isinstance(version, dict) else "?"


# --------------------------------------------------------------------------- lifecycle


def _failure(why: str) -> ServiceError:
    """An error that carries the JVM log's tail, which is where the real reason is."""
    return ServiceError(f"OpenSearch {why}.\n--- {_log_file()} (tail) ---\n{tail(_log_file(), 60)}")


def _stop_running(pid: int) -> None:
    stop_pid(pid, _marker(), timeout=STOP_TIMEOUT)
    _pid_file().unlink(missing_ok=True)


def _check_ports_free() -> None:
    """Refuse to start next to a foreign server: our node would die on bind, less clearly."""
    for port in (HTTP_PORT, TRANSPORT_PORT):
        if port_open(HOST, port):
            raise ServiceError(
                f"{HOST}:{port} is already in use by a process this run dir did not start "
                f"({_pid_file()} names none); stop it first"
            )


def start(args: argparse.Namespace) -> None:
    """Start the node (no-op when it runs), wait for green/yellow health, print its URL."""
    if (getattr(args, "nodes", 1) or 1) != 1:
        raise ServiceError("opensearch runs as a single node; --nodes is not supported")
    timeout = float(getattr(args, "timeout", None) or DEFAULT_TIMEOUT)
    wipe = bool(getattr(args, "wipe", False))
    health_url = URL + "/_cluster/health"
    with locked(_run() / ".lock"):
        pid = _running_pid()
        if pid is not None and wipe:
            log(f"opensearch: stopping the running node (pid {pid}) before wiping")
            _stop_running(pid)
            pid = None
        if pid is not None:
            running = pid
            if not wait_for_http(
                health_url, timeout, accept=_healthy, alive=lambda: pid_alive(running, _marker())
            ):
                raise _failure(f"runs (pid {running}) but its health is not green/yellow")
            print(URL, flush=True)
            return

        _pid_file().unlink(missing_ok=True)  # stale: its process is gone
        if wipe:
            log(f"opensearch: wiping {_data()}")
            shutil.rmtree(_data(), ignore_errors=True)
        _check_ports_free()
        java_home = _java_home()
        classpath = _build(java_home)
        _prepare_home()
        began = time.monotonic()
        proc = spawn_detached(
            _jvm_command(java_home / "bin" / "java", classpath), cwd=_run(), log_path=_log_file()
        )
        write_pid(_pid_file(), proc.pid)
        log(f"opensearch: started pid {proc.pid} (heap {HEAP}), waiting for {health_url}")
        try:
            if not wait_for_http(
                health_url, timeout, accept=_healthy, alive=lambda: proc.poll() is None
            ):
                if proc.poll() is not None:
                    raise _failure(f"exited (status {proc.returncode}) before it was healthy")
                raise _failure(f"was not green/yellow within {timeout:.0f}s")
            _default_no_replicas()
        except BaseException:
            log(f"opensearch: stopping pid {proc.pid}, which this start launched")
            _stop_running(proc.pid)
            proc.poll()
            raise
        log(f"opensearch: {_version()} ready at {URL} in {time.monotonic() - began:.1f}s")
    print(URL, flush=True)


def stop(args: argparse.Namespace) -> None:
    """Stop the node this run dir started (by PID); fine when nothing runs."""
    del args
    with locked(_run() / ".lock"):
        pid = _running_pid()
        if pid is None:
            _pid_file().unlink(missing_ok=True)
            log("opensearch: not running")
            return
        _stop_running(pid)
    log(f"opensearch: stopped pid {pid}")


def status() -> str:
    """One line: stopped, starting, or running with PID, URL and cluster health."""
    pid = _running_pid()
    if pid is None:
        return "opensearch: stopped"
    health = _get_json("/_cluster/health")
    if health is None:
        return f"opensearch: starting (HTTP not answering yet), pid {pid}, {URL}"
    return f"opensearch: running, pid {pid}, {URL} (cluster {health.get('status')})"


def main(argv: list[str]) -> int:
    """Standalone entry point with the same options as ``scripts/services``."""
    parser = argparse.ArgumentParser(prog="opensearch.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start_parser = sub.add_parser("start", help="start the node (no-op when it runs)")
    start_parser.add_argument("--wipe", action="store_true", help="delete its data first")
    start_parser.add_argument("--timeout", type=float, default=None, help="seconds to wait")
    sub.add_parser("stop", help="stop what start started (by PID)")
    sub.add_parser("status", help="one line")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            start(args)
        elif args.command == "stop":
            stop(args)
        else:
            print(status())
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
