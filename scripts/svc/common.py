"""Helpers shared by the service modules of ``scripts/services``.

Everything here is stdlib only, so the script runs before any virtualenv exists. The services are
long-lived JVMs started detached from the calling shell; we find them again through PID files in
the run directory and check ``/proc/<pid>/cmdline`` for a marker (the node's own run directory) so
that a recycled PID never gets signalled.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: ``scripts/svc/common.py`` -> two levels up."""


class ServiceError(Exception):
    """A failure to report to the user as one message (the dispatcher exits non-zero)."""


# --------------------------------------------------------------------------- locations


def run_root() -> Path:
    """Where running services keep config, data, logs and PID files (``<repo>/.run``).

    ``DATA_GATEWAY_RUN_DIR`` overrides it, e.g. for CI runs that want a scratch disk.
    """
    override = os.environ.get("DATA_GATEWAY_RUN_DIR")
    return Path(override).resolve() if override else REPO_ROOT / ".run"


def run_dir(name: str) -> Path:
    """The run directory of one service, e.g. ``<repo>/.run/cassandra``."""
    return run_root() / name


def cache_root() -> Path:
    """A download/resolution cache that outlives the work tree (``~/.cache/data-gateway``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "data-gateway"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so two concurrent starts/stops do not interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log(message: str) -> None:
    """Progress for humans goes to stderr, so stdout stays machine-readable (contact points)."""
    print(message, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 40, width: int = 300) -> str:
    """The last ``lines`` lines of a log file, each cut to ``width`` characters (JVMs log their
    whole classpath on one line), or a note when the file does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    clipped = (line if len(line) <= width else line[:width] + " ..." for line in data.splitlines())
    return "\n".join(list(clipped)[-lines:])


# --------------------------------------------------------------------------- Java


def java_major(java_home: Path) -> int | None:
    """The feature version of a JDK from its ``release`` file (no JVM start needed)."""
    try:
        text = (java_home / "release").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip().strip('"')
            head = version.split(".")[0]
            if head == "1":  # 1.8.0_x
                head = version.split(".")[1]
            return int(head) if head.isdigit() else None
    return None


def find_java_home(accepted: Iterable[int]) -> Path:
    """A JDK whose major version is in ``accepted`` (first = preferred), from ``$JAVA_HOME`` or
    /usr/lib/jvm.

    The servers are picky (Cassandra 5.0 dies on JDK 24+ because it installs a security manager),
    and the machine may have several JDKs, so we never trust whatever ``java`` is on PATH.
    """
    wanted = list(accepted)
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    jvm_dir = Path("/usr/lib/jvm")
    if jvm_dir.is_dir():
        candidates.extend(sorted(p for p in jvm_dir.iterdir() if not p.is_symlink()))
    majors = {home: java_major(home) for home in candidates if (home / "bin" / "java").exists()}
    for major in wanted:  # in order of preference
        for home, found in majors.items():
            if found == major:
                return home
    raise ServiceError(
        f"no JDK with major version in {wanted} found (looked at $JAVA_HOME and "
        "/usr/lib/jvm); install one, e.g. apt-get install openjdk-17-jdk-headless"
    )


# --------------------------------------------------------------------------- Maven


def maven_classpath(
    pom_xml: str, cache_dir: Path, java_home: Path, *, plugin_version: str = "3.8.1"
) -> list[Path]:
    """Resolve the dependencies of ``pom_xml`` to a list of jars, cached in ``cache_dir``.

    The first call runs Maven (jars land in ``~/.m2``) and writes ``classpath.txt`` next to a copy
    of the pom; later calls return the cached list without starting Maven, as long as the pom is
    unchanged and every jar is still present.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    pom_path = cache_dir / "pom.xml"
    cp_path = cache_dir / "classpath.txt"
    digest_path = cache_dir / "pom.sha256"
    digest = hashlib.sha256(pom_xml.encode()).hexdigest()
    if cp_path.exists() and digest_path.exists() and digest_path.read_text().strip() == digest:
        jars = [Path(p) for p in cp_path.read_text().strip().split(os.pathsep) if p]
        if jars and all(j.exists() for j in jars):
            return jars

    pom_path.write_text(pom_xml)
    tmp_out = cache_dir / "classpath.txt.tmp"
    tmp_out.unlink(missing_ok=True)
    log(f"resolving jars with Maven (once; cached in {cache_dir}) ...")
    _run_maven(
        [
            "-f",
            str(pom_path),
            f"org.apache.maven.plugins:maven-dependency-plugin:{plugin_version}:build-classpath",
            f"-Dmdep.outputFile={tmp_out}",
        ],
        cwd=cache_dir, java_home=java_home, output=tmp_out, maven_log=cache_dir / "maven.log",
    )
    tmp_out.replace(cp_path)
    digest_path.write_text(digest + "\n")
    return [Path(p) for p in cp_path.read_text().strip().split(os.pathsep) if p]


def _run_maven(
    args: Sequence[str], *, cwd: Path, java_home: Path, output: Path, maven_log: Path
) -> None:
    """Run ``mvn -B -q ARGS`` on ``java_home``, its output in ``maven_log``; a ServiceError with
    the log's tail unless it succeeds and writes ``output``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Maven ('mvn') is not on PATH; install it, e.g. apt-get install maven")
    env = dict(os.environ, JAVA_HOME=str(java_home))
    with maven_log.open("wb") as out:
        result = subprocess.run(
            [mvn, "-B", "-q", *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0 or not output.exists():
        raise ServiceError(
            f"Maven failed (exit {result.returncode}); log {maven_log}:\n{tail(maven_log)}"
        )


def _project_digest(project_dir: Path, java_home: Path) -> str:
    """Hash of everything a build depends on, so an edited pom or class rebuilds by itself."""
    digest = hashlib.sha256(str(java_home).encode() + b"\0")
    files = [project_dir / "pom.xml", *sorted((project_dir / "src").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read_classpath(cp_file: Path) -> list[Path]:
    return [Path(p) for p in cp_file.read_text().strip().split(os.pathsep) if p]


def build_java_project(
    project_dir: Path, cache: Path, java_home: Path, main_class: str, label: str
) -> list[Path]:
    """The compiled classes of the small Maven project in ``project_dir`` (a test node's
    launcher) followed by its runtime jars; Maven runs only when the cache is stale.

    The project is copied into ``cache`` so ``target/`` never lands in the repository.
    ``label`` names what is built in the progress line ("the OpenSearch 2.19.6 test node").
    """
    build = cache / "build"
    classes = build / "target" / "classes"
    cp_file = cache / "classpath.txt"
    stamp = cache / "build.sha256"
    digest = _project_digest(project_dir, java_home)
    with locked(cache / ".lock"):
        if stamp.exists() and stamp.read_text().strip() == digest and cp_file.exists():
            jars = _read_classpath(cp_file)
            main = classes / (main_class.replace(".", "/") + ".class")
            if jars and main.exists() and all(j.exists() for j in jars):
                return [classes, *jars]

        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        shutil.copy2(project_dir / "pom.xml", build / "pom.xml")
        shutil.copytree(project_dir / "src", build / "src")
        stamp.unlink(missing_ok=True)
        tmp_cp = cache / "classpath.txt.tmp"
        tmp_cp.unlink(missing_ok=True)
        log(f"building {label} with Maven (cached in {cache}) ...")
        _run_maven(
            ["-f", str(build / "pom.xml"), "compile", "dependency:build-classpath",
             "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={tmp_cp}"],
            cwd=build, java_home=java_home, output=tmp_cp, maven_log=cache / "maven.log",
        )
        tmp_cp.replace(cp_file)
        stamp.write_text(digest + "\n")
        return [classes, *_read_classpath(cp_file)]


# --------------------------------------------------------------------------- processes


def spawn_detached(
    cmd: Sequence[str], *, cwd: Path, log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session with stdout/stderr to ``log_path`` (truncated).

    A new session means the server survives the shell (and a Ctrl-C there) that started it.
    """
    with log_path.open("wb") as out:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def write_pid(path: Path, pid: int) -> None:
    """Write a PID file atomically (a reader never sees a half-written number)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def read_pid(path: Path) -> int | None:
    """The PID in ``path``, or None when the file is missing or garbled."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True when ``pid`` is a live (non-zombie) process whose command line contains ``marker``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", errors="replace")
        )
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return marker is None or marker in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_pids(targets: Sequence[tuple[int, str | None]], timeout: float = 30.0) -> None:
    """SIGTERM every (pid, marker) that is still ours, wait up to ``timeout``, then SIGKILL.

    All processes get SIGTERM at once so a cluster shuts down in one timeout, not N of them.
    """
    live = [(pid, marker) for pid, marker in targets if pid_alive(pid, marker)]
    for pid, _ in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        for pid, _ in live:
            _reap(pid)
        live = [(pid, marker) for pid, marker in live if pid_alive(pid, marker)]
        if live:
            time.sleep(0.2)
    for pid, _ in live:
        log(f"pid {pid} ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid, marker in live:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            _reap(pid)
            if not pid_alive(pid, marker):
                break
            time.sleep(0.1)


def stop_pid(pid: int, marker: str | None = None, timeout: float = 30.0) -> None:
    """Stop one process: SIGTERM, wait up to ``timeout``, then SIGKILL."""
    stop_pids([(pid, marker)], timeout)


# --------------------------------------------------------------------------- waiting


def wait_until(
    probe: Callable[[], bool],
    timeout: float,
    *,
    alive: Callable[[], bool] | None = None,
    interval: float = 1.0,
) -> bool:
    """Poll ``probe`` until it returns True (-> True) or ``timeout`` passes (-> False).

    ``alive`` is checked between polls so a server that crashed fails fast instead of after the
    full timeout; its death also returns False.
    """
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return True
        if alive is not None and not alive():
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, timeout: float, *, alive: Callable[[], bool] | None = None
) -> bool:
    """Wait until ``host:port`` accepts TCP connections."""
    return wait_until(lambda: port_open(host, port), timeout, alive=alive)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """GET ``url``: (status, body), or None when nothing answers. Non-2xx is still an answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return None


def wait_for_http(
    url: str,
    timeout: float,
    *,
    accept: Callable[[int, bytes], bool] = lambda status, _body: 200 <= status < 300,
    alive: Callable[[], bool] | None = None,
) -> bool:
    """Wait until ``url`` answers with a response that ``accept(status, body)`` likes."""

    def probe() -> bool:
        answer = http_get(url)
        return answer is not None and accept(*answer)

    return wait_until(probe, timeout, alive=alive)


# --------------------------------------------------------------------------- search nodes


def search_jvm_flags(heap: str, run: Path) -> list[str]:
    """The flags of a search engine's ``jvm.options`` (OpenSearch's, Elasticsearch's) that matter
    for a test node launched without the distribution's launcher: a fixed heap (else the JVM
    takes a quarter of the machine), G1, crash files and temporary files under ``run``, and the
    Netty and log4j settings both engines ship (our shutdown hook closes the node and still
    wants to log while doing so)."""
    return [
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Xss1m",
        "-XX:+UseG1GC",
        "-XX:-OmitStackTraceInFastThrow",
        "-XX:+ExitOnOutOfMemoryError",
        f"-XX:ErrorFile={run / 'logs' / 'hs_err_pid%p.log'}",
        f"-Djava.io.tmpdir={run / 'tmp'}",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "-Djna.nosys=true",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j.shutdownHookEnabled=false",
    ]


def launch_until_healthy(
    cmd: Sequence[str],
    *,
    label: str,
    run: Path,
    log_path: Path,
    pid_file: Path,
    waiting_for: str,
    healthy: Callable[[], bool],
    timeout: float,
    failure: Callable[[str], ServiceError],
    stop: Callable[[int], None],
    then: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server's JVM detached, record its PID, and wait until ``healthy()``, then run
    ``then`` (settings that need the server up).

    If it dies, stays unhealthy for ``timeout`` seconds, ``then`` fails, or the wait is
    interrupted, the JVM this call started is stopped again (``stop(pid)``) and the error,
    made by ``failure(why)`` with the log's tail, is raised: no half-started server is left.
    """
    proc = spawn_detached(cmd, cwd=run, log_path=log_path)
    write_pid(pid_file, proc.pid)
    log(f"{label}: started pid {proc.pid}, waiting for {waiting_for}")
    try:
        if not wait_until(healthy, timeout, alive=lambda: proc.poll() is None):
            if proc.poll() is not None:
                raise failure(f"exited (status {proc.returncode}) before it was healthy")
            raise failure(f"was not green/yellow within {timeout:.0f}s")
        if then is not None:
            then()
    except BaseException:
        log(f"{label}: stopping pid {proc.pid}, which this start launched")
        stop(proc.pid)
        proc.poll()
        raise
    return proc


def service_main(
    argv: Sequence[str],
    doc: str,
    *,
    start: Callable[[argparse.Namespace], None],
    stop: Callable[[argparse.Namespace], None],
    status: Callable[[], str],
    secure: bool = False,
) -> int:
    """The standalone entry point of a service module (``python3 scripts/svc/NAME.py start``),
    with the options ``scripts/services`` gives it; ``secure`` adds ``--secure`` to start and
    stop."""
    name = Path(sys.argv[0]).name
    parser = argparse.ArgumentParser(prog=name, description=doc.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start_parser = sub.add_parser("start", help="start the node (no-op when it runs)")
    start_parser.add_argument("--wipe", action="store_true", help="delete its data first")
    start_parser.add_argument("--timeout", type=float, default=None, help="seconds to wait")
    stop_parser = sub.add_parser("stop", help="stop what start started (by PID)")
    if secure:
        for command in (start_parser, stop_parser):
            command.add_argument("--secure", action="store_true",
                                 help="the HTTPS + basic auth node")
    sub.add_parser("status", help="one line per node")
    args = parser.parse_args(list(argv))
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


# --------------------------------------------------------------------------- certificates

CERT_ORGANIZATION = "data-gateway-test"
CERT_UNIT = "test servers"

_CERT_PROGRAM = """
import json, sys
import trustme
from cryptography.hazmat.primitives import serialization as s

org, unit, leaves = json.loads(sys.argv[1])
ca = trustme.CA(organization_name=org, organization_unit_name=unit)
out = {"ca": ca.cert_pem.bytes().decode(), "leaves": {}}
for name, names in leaves.items():
    leaf = ca.issue_cert(
        *names, common_name=name, organization_name=org, organization_unit_name=unit
    )
    key = s.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    chain = "".join(blob.bytes().decode() for blob in leaf.cert_chain_pems)
    out["leaves"][name] = {"key": pkcs8.decode(), "cert": chain}
print(json.dumps(out))
"""


def leaf_dn(name: str) -> str:
    """The subject of leaf ``name`` from `make_certificates`, as an RFC 4514 string (what the
    OpenSearch security plugin's ``nodes_dn`` compares)."""
    return f"CN={name},OU={CERT_UNIT},O={CERT_ORGANIZATION}"


def make_certificates(
    directory: Path, leaves: Mapping[str, Sequence[str]], *, key_apart: bool = False
) -> Path:
    """A fresh test CA and one certificate per leaf, made with ``trustme`` (never committed keys).

    ``directory`` is emptied, then gets ``ca.pem`` (the CA certificate clients trust, 0644) and for
    each ``name: [address or DNS name, ...]`` a certificate naming those (subjectAltName; subject
    `leaf_dn` of ``name``; usable as server and client certificate) with an unencrypted PKCS#8
    key ("BEGIN PRIVATE KEY"), 0600: ``<name>.pem`` holds the key followed by the certificate, the
    PEM "keystore" of Cassandra's PEMBasedSslContextFactory; with ``key_apart`` it holds the
    certificate alone and the key goes to ``<name>.key`` (as the OpenSearch security plugin
    wants).  Returns the CA file.

    This script runs under the system python3, which has no trustme; the repository's
    ``.venv/bin/python`` (made by ``make``, with the test extra) runs `_CERT_PROGRAM` instead.
    """
    python = REPO_ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise ServiceError(f"{python} does not exist: run `make` first (test certificates come "
                           "from trustme, installed there with the test extra)")
    args = [CERT_ORGANIZATION, CERT_UNIT, {name: list(names) for name, names in leaves.items()}]
    result = subprocess.run(
        [str(python), "-c", _CERT_PROGRAM, json.dumps(args)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServiceError(f"{python} could not make test certificates ({last}); run `make` "
                           "first, which installs trustme and cryptography into .venv")
    made = json.loads(result.stdout)

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # ca.pem readable by clients; the keys are 0600

    def write(name: str, text: str, mode: int = 0o600) -> None:
        path = directory / name
        path.touch(mode=0o600)  # before the content: a key is never readable by others
        path.write_text(text)
        path.chmod(mode)

    ca = directory / "ca.pem"
    write(ca.name, made["ca"], 0o644)
    for name, leaf in made["leaves"].items():
        if key_apart:
            write(f"{name}.key", leaf["key"])
            write(f"{name}.pem", leaf["cert"])
        else:
            write(f"{name}.pem", leaf["key"] + leaf["cert"])
    return ca
