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

``--secure`` starts a second, separate node (``<repo>/.run/opensearch-secure/``, HTTP port 9210,
transport 9310) with the security plugin: HTTPS and TLS between nodes with certificates made by
``trustme`` at every start under ``certs/`` (``ca.pem`` is the CA clients trust), and HTTP basic
auth with the user ``admin`` (password ``ADMIN_PASSWORD``). The plugin is
``org.opensearch.plugin:opensearch-security`` from Maven Central, a zip that is unpacked into the
cache and installed into the node's ``plugins/`` folder, loaded by the node's PluginsService as in
a distribution. Maven Central has no 2.19.6.0 of it (nor 2.19.5.0), so the newest published 2.19
one, ``SECURITY_VERSION``, is used with its descriptor's ``opensearch.version`` set to the node's
and without the jars the node's classpath already has. On the first start of a data directory it
creates its security index from ``home/config/opensearch-security/`` (the plugin's default roles
plus our ``internal_users.yml``). ``start --secure`` prints a search URL,
``https://admin:<password>@127.0.0.1:9210?ca=<run dir>/certs/ca.pem``.

Ports: ``DATA_GATEWAY_OPENSEARCH_PORT`` / ``DATA_GATEWAY_OPENSEARCH_SECURE_PORT`` move a node's
HTTP port (its transport port is that + 100), so several work trees can run nodes side by side.

Usable on its own: ``python3 scripts/svc/opensearch.py start [--secure] [--wipe] [--timeout S]|
stop [--secure]|status``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from common import (
    ServiceError,
    build_java_project,
    cache_root,
    find_java_home,
    launch_until_healthy,
    leaf_dn,
    locked,
    log,
    make_certificates,
    maven_classpath,
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

VERSION = "2.19.6"  # must equal <opensearch.version> in opensearch/pom.xml (cache key, messages)
SECURITY_VERSION = "2.19.4.0"
"""The newest opensearch-security 2.19 on Maven Central (2.19.5.0 and 2.19.6.0 are not there)."""
HOST = "127.0.0.1"
HTTP_PORT = 9200
SECURE_HTTP_PORT = 9210
TRANSPORT_OFFSET = 100  # transport port = HTTP port + this (9300, 9310)
CLUSTER_NAME = "data-gateway-test"
NODE_NAME = "test-node"
HEAP = "512m"
JAVA_PREFERRED = (17,)  # what the project standardises on
JAVA_FALLBACK = (21, 11)  # also supported by OpenSearch 2.19; never the machine's JDK 25
DEFAULT_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
MAIN_CLASS = "datagateway.opensearch.TestNode"
SUPPORTS_SECURE = True  # scripts/services passes --secure only to services that say so

ADMIN_USER = "admin"
ADMIN_PASSWORD = "dg-Test-Admin-9"  # a test node's on loopback; not a secret
ADMIN_HASH = "$2y$12$x4RfqtC7IuMWMkG3i8V3uu3TNpPB6ryGgRW5SXL1RpzWVEGPZi41W"
"""bcrypt of ADMIN_PASSWORD, from the plugin's own ``org.opensearch.security.tools.Hasher``."""
NODE_DN = leaf_dn("node")  # subject of the node certificate (nodes_dn)

PROJECT_DIR = Path(__file__).resolve().parent / "opensearch"
"""The Maven project (pom.xml, src/) and the log4j2.properties template."""

SECURITY_POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- The security plugin (a zip with its jars and default config) and the class loader the
     node's PluginsService needs for a plugin folder (a distribution has it in lib/). -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>datagateway.testsvc</groupId>
  <artifactId>opensearch-security-resolve</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.opensearch.plugin</groupId>
      <artifactId>opensearch-security</artifactId>
      <version>{SECURITY_VERSION}</version>
      <type>zip</type>
    </dependency>
    <dependency>
      <groupId>org.opensearch</groupId>
      <artifactId>opensearch-plugin-classloader</artifactId>
      <version>{VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


# --------------------------------------------------------------------------- the two nodes


@dataclass(frozen=True)
class NodeKind:
    """The plain node or the secure one: its run dir, ports and how to talk to it."""

    secure: bool
    http_port: int

    @classmethod
    def of(cls, secure: bool) -> NodeKind:
        """The node as the next start would run it: the port from the environment or default.

        A node that runs keeps the port it was started with: see ``_as_running``.
        """
        var = f"DATA_GATEWAY_OPENSEARCH{'_SECURE' if secure else ''}_PORT"
        text = os.environ.get(var, "")
        if not text:
            return cls(secure, SECURE_HTTP_PORT if secure else HTTP_PORT)
        if not text.isdigit() or not 0 < int(text) < 65536 - TRANSPORT_OFFSET:
            raise ServiceError(f"{var} must be a port number, got {text!r}")
        return cls(secure, int(text))

    @property
    def name(self) -> str:
        return "opensearch-secure" if self.secure else "opensearch"

    @property
    def label(self) -> str:
        return "opensearch --secure" if self.secure else "opensearch"

    @property
    def transport_port(self) -> int:
        return self.http_port + TRANSPORT_OFFSET

    @property
    def url(self) -> str:
        """The node's base URL, without credentials."""
        return f"{'https' if self.secure else 'http'}://{HOST}:{self.http_port}"

    def contact(self) -> str:
        """What ``start`` prints: the URL, for the secure node with credentials and its CA."""
        if not self.secure:
            return self.url
        return f"https://{ADMIN_USER}:{ADMIN_PASSWORD}@{HOST}:{self.http_port}?ca={_ca_file(self)}"


def _kind(args: argparse.Namespace | None) -> NodeKind:
    return NodeKind.of(bool(getattr(args, "secure", False)))


def _as_running(kind: NodeKind) -> NodeKind:
    """``kind`` with the HTTP port its running node was started with (from its opensearch.yml),
    so status and a repeated start find it whatever the environment says now."""
    try:
        text = (_home(kind) / "config" / "opensearch.yml").read_text()
    except OSError:
        return kind
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "http.port" and value.strip().isdigit():
            return replace(kind, http_port=int(value.strip()))
    return kind


# --------------------------------------------------------------------------- locations


def _run(kind: NodeKind) -> Path:
    return run_dir(kind.name)


def _home(kind: NodeKind) -> Path:
    return _run(kind) / "home"


def _data(kind: NodeKind) -> Path:
    return _run(kind) / "data"


def _certs(kind: NodeKind) -> Path:
    return _run(kind) / "certs"


def _ca_file(kind: NodeKind) -> Path:
    return _certs(kind) / "ca.pem"


def _pid_file(kind: NodeKind) -> Path:
    return _run(kind) / "opensearch.pid"


def _log_file(kind: NodeKind) -> Path:
    return _run(kind) / "opensearch.log"


def _marker(kind: NodeKind) -> str:
    """A string only our JVM's command line holds (its home), so a recycled PID is never hit."""
    return f"-Dopensearch.path.home={_home(kind)}"


def _running_pid(kind: NodeKind) -> int | None:
    """The PID of the node this run dir started, when that process is still alive."""
    pid = read_pid(_pid_file(kind))
    return pid if pid is not None and pid_alive(pid, _marker(kind)) else None


# --------------------------------------------------------------------------- build


def _java_home() -> Path:
    """JDK 17 when there is one (``$JAVA_HOME`` may name another), else 21 or 11."""
    try:
        return find_java_home(JAVA_PREFERRED)
    except ServiceError:
        return find_java_home(JAVA_FALLBACK)


def _cache() -> Path:
    return cache_root() / f"opensearch-{VERSION}"


def _build(java_home: Path) -> list[Path]:
    """Compiled launcher classes plus its jars; Maven runs only when the cache is stale."""
    return build_java_project(
        PROJECT_DIR, _cache(), java_home, MAIN_CLASS, f"the OpenSearch {VERSION} test node"
    )


def _artifact_name(jar: str) -> str:
    """``netty-codec-http-4.1.125.Final.jar`` -> ``netty-codec-http`` (the name without version)."""
    stem = jar.removesuffix(".jar")
    parts = stem.split("-")
    for i, part in enumerate(parts):
        if i and part[:1].isdigit():
            return "-".join(parts[:i])
    return stem


@dataclass(frozen=True)
class SecurityPlugin:
    """The unpacked security plugin in the cache, ready to be linked into a node's plugins/."""

    plugin_dir: Path  # what goes to <home>/plugins/opensearch-security
    config_dir: Path  # the plugin's default security config (roles.yml, config.yml, ...)
    extra_classpath: list[Path]  # opensearch-plugin-classloader


def _security_plugin(java_home: Path, node_classpath: list[Path]) -> SecurityPlugin:
    """Resolve the security plugin zip with Maven (once) and unpack it for this node.

    A jar of the zip whose artifact the node's classpath also has (netty, transport-netty4-client,
    httpclient, ...) is left out: the plugin's class loader sees the node's (its parent), and two
    copies would fail the node's jar-hell check.
    """
    cache = _cache()
    artifacts = maven_classpath(SECURITY_POM, cache / "security-maven", java_home)
    zips = [a for a in artifacts if a.suffix == ".zip"]
    if len(zips) != 1:
        raise ServiceError(f"expected one opensearch-security zip from Maven, got {artifacts}")
    extra = [a for a in artifacts if a.suffix == ".jar"]
    target = cache / f"security-{SECURITY_VERSION}"
    plugin_dir, config_dir = target / "plugin", target / "config"
    on_node = {_artifact_name(p.name) for p in node_classpath if p.suffix == ".jar"}
    digest = hashlib.sha256(
        f"{zips[0]}\0{zips[0].stat().st_size}\0{VERSION}\0{sorted(on_node)}".encode()
    ).hexdigest()
    stamp = target / "unpacked.sha256"
    with locked(cache / "security.lock"):
        if stamp.exists() and stamp.read_text().strip() == digest:
            return SecurityPlugin(plugin_dir, config_dir, extra)
        log(f"unpacking opensearch-security {SECURITY_VERSION} into {target}")
        shutil.rmtree(target, ignore_errors=True)
        unpacked = target / "zip"
        with zipfile.ZipFile(zips[0]) as archive:
            archive.extractall(unpacked)
        (unpacked / "config").rename(config_dir)
        shutil.rmtree(unpacked / "tools", ignore_errors=True)  # securityadmin.sh & co.
        dropped = []
        for jar in sorted(unpacked.glob("*.jar")):
            if _artifact_name(jar.name) in on_node:
                jar.unlink()
                dropped.append(jar.name)
        descriptor = unpacked / "plugin-descriptor.properties"
        lines = descriptor.read_text().splitlines()
        descriptor.write_text(
            "\n".join(
                f"opensearch.version={VERSION}" if line.startswith("opensearch.version=") else line
                for line in lines
            )
            + "\n"
        )
        unpacked.rename(plugin_dir)
        log(f"  left out (the node has them): {', '.join(dropped)}")
        stamp.write_text(digest + "\n")
    return SecurityPlugin(plugin_dir, config_dir, extra)


# --------------------------------------------------------------------------- certificates


def _make_certificates(kind: NodeKind) -> None:
    """A fresh test CA and the node certificate it signs, for HTTPS and transport TLS: PEM files,
    the PKCS#8 key apart (what the plugin reads); it names 127.0.0.1 and localhost, has the subject
    ``NODE_DN`` and serves as both server and client certificate (nodes talk TLS to each other)."""
    make_certificates(_certs(kind), {"node": [HOST, "localhost"]}, key_apart=True)


# --------------------------------------------------------------------------- node files


def _opensearch_yml(kind: NodeKind) -> str:
    """Node settings; values are JSON-quoted, which YAML reads as plain strings."""
    settings: dict[str, object] = {
        "cluster.name": CLUSTER_NAME,
        "node.name": NODE_NAME,
        "path.data": str(_data(kind)),
        "path.logs": str(_run(kind) / "logs"),
        "network.host": HOST,
        "http.port": kind.http_port,
        "transport.port": kind.transport_port,
        # No discovery, no cluster bootstrapping, no production bootstrap checks.
        "discovery.type": "single-node",
        # A nearly full disk on a dev machine must not turn test indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    if kind.secure:
        certs = _certs(kind)
        for layer in ("transport", "http"):
            settings[f"plugins.security.ssl.{layer}.pemcert_filepath"] = str(certs / "node.pem")
            settings[f"plugins.security.ssl.{layer}.pemkey_filepath"] = str(certs / "node.key")
            settings[f"plugins.security.ssl.{layer}.pemtrustedcas_filepath"] = str(
                certs / "ca.pem"
            )
        settings |= {
            "plugins.security.ssl.http.enabled": True,
            "plugins.security.ssl.transport.enforce_hostname_verification": False,
            "plugins.security.nodes_dn": [NODE_DN],
            # The first start of a data directory creates the security index from
            # config/opensearch-security/ (no securityadmin run needed).
            "plugins.security.allow_default_init_securityindex": True,
            "plugins.security.audit.type": "noop",
        }
    lines = ["# Written by scripts/svc/opensearch.py on every start; edits are lost."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _internal_users_yml() -> str:
    return (
        "# Written by scripts/svc/opensearch.py; read on a data directory's first start only.\n"
        "_meta:\n"
        '  type: "internalusers"\n'
        "  config_version: 2\n"
        f"{ADMIN_USER}:\n"
        f'  hash: "{ADMIN_HASH}"\n'
        "  reserved: true\n"
        '  backend_roles: ["admin"]\n'  # all_access via the default roles_mapping.yml
        '  description: "the test admin"\n'
    )


def _prepare_home(kind: NodeKind, plugin: SecurityPlugin | None) -> None:
    """Create path.home with its config; empty modules/ and plugins/ as Node expects them."""
    config = _home(kind) / "config"
    plugins = _home(kind) / "plugins"
    for path in (
        config,
        _home(kind) / "modules",
        plugins,
        _data(kind),
        _run(kind) / "logs",
        _run(kind) / "tmp",
    ):
        path.mkdir(parents=True, exist_ok=True)
    (config / "opensearch.yml").write_text(_opensearch_yml(kind))
    shutil.copy2(PROJECT_DIR / "config" / "log4j2.properties", config / "log4j2.properties")
    if plugin is None:
        return
    link = plugins / "opensearch-security"
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(plugin.plugin_dir, target_is_directory=True)
    security = config / "opensearch-security"
    shutil.rmtree(security, ignore_errors=True)
    shutil.copytree(plugin.config_dir, security)
    (security / "internal_users.yml").write_text(_internal_users_yml())
    # The plugin warns about config files others can read.
    config.chmod(0o700)
    security.chmod(0o700)
    for path in [*config.glob("*.*"), *security.iterdir()]:
        path.chmod(0o600)


def _jvm_command(kind: NodeKind, java: Path, classpath: list[Path]) -> list[str]:
    """The JVM flags a distribution's launcher would add that matter without a security manager."""
    return [
        str(java),
        *search_jvm_flags(HEAP, _run(kind)),
        # Date/number parsing as the distribution does on JDK 17 (CLDR alone differs slightly).
        "-Djava.locale.providers=SPI,COMPAT",
        "-Dio.netty.allocator.numDirectArenas=0",
        f"-Dlog4j2.configurationFile={_home(kind) / 'config' / 'log4j2.properties'}",
        _marker(kind),
        "-cp",
        os.pathsep.join(str(p) for p in classpath),
        MAIN_CLASS,
    ]


# --------------------------------------------------------------------------- HTTP


def _request(
    kind: NodeKind,
    path: str,
    *,
    method: str = "GET",
    body: dict[str, object] | None = None,
    timeout: float = 2.0,
) -> tuple[int, bytes] | None:
    """(status, body) of a request to the node, or None when nothing answers.

    The secure node is asked over HTTPS, trusting only its test CA, as the admin user.
    """
    headers = {"Content-Type": "application/json"} if body is not None else {}
    context = None
    if kind.secure:
        token = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        try:
            context = ssl.create_default_context(cafile=str(_ca_file(kind)))
        except OSError:
            return None  # no CA file (yet): nothing we could trust answers
    request = urllib.request.Request(
        kind.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return None


def _get_json(kind: NodeKind, path: str, timeout: float = 2.0) -> dict[str, object] | None:
    """GET ``path`` as JSON, or None when nothing (valid) answers."""
    answer = _request(kind, path, timeout=timeout)
    if answer is None or not 200 <= answer[0] < 300:
        return None
    try:
        body = json.loads(answer[1])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _put_json(kind: NodeKind, path: str, body: dict[str, object], timeout: float = 30.0) -> None:
    """PUT a JSON body to ``path``; a non-2xx answer is a ServiceError."""
    answer = _request(kind, path, method="PUT", body=body, timeout=timeout)
    if answer is None:
        raise ServiceError(f"PUT {path} failed: no answer from {kind.url}")
    if not 200 <= answer[0] < 300:
        raise ServiceError(f"PUT {path} failed: {answer[0]} {answer[1][:500]!r}")


def _default_no_replicas(kind: NodeKind) -> None:
    """Make new indices default to 0 replicas, so they go green on a single node.

    ``cluster.default_number_of_replicas`` is read from the cluster state's settings when an
    index is created; in opensearch.yml it is accepted but has no effect, so it is set here as a
    persistent cluster setting (kept in the data directory, idempotent). Explicit
    ``number_of_replicas`` in a request or template still wins.
    """
    _put_json(
        kind, "/_cluster/settings", {"persistent": {"cluster.default_number_of_replicas": 0}}
    )


def _healthy(kind: NodeKind) -> bool:
    """Cluster health is usable: yellow (unassigned replicas) is fine on one node.

    On the secure node this also means the security plugin is initialised: until then it
    answers 503 to everyone, and 401 to a user it does not know yet.
    """
    health = _get_json(kind, "/_cluster/health")
    return health is not None and health.get("status") in ("green", "yellow")


def _version(kind: NodeKind) -> str:
    info = _get_json(kind, "/")
    version = info.get("version") if info else None
    return str(version.get("number")) if isinstance(version, dict) else "?"


# --------------------------------------------------------------------------- lifecycle


def _failure(kind: NodeKind, why: str) -> ServiceError:
    """An error that carries the JVM log's tail, which is where the real reason is."""
    log_file = _log_file(kind)
    return ServiceError(f"OpenSearch {why}.\n--- {log_file} (tail) ---\n{tail(log_file, 60)}")


def _stop_running(kind: NodeKind, pid: int) -> None:
    stop_pid(pid, _marker(kind), timeout=STOP_TIMEOUT)
    _pid_file(kind).unlink(missing_ok=True)


def _check_ports_free(kind: NodeKind) -> None:
    """Refuse to start next to a foreign server: our node would die on bind, less clearly."""
    for port in (kind.http_port, kind.transport_port):
        if port_open(HOST, port):
            raise ServiceError(
                f"{HOST}:{port} is already in use by a process this run dir did not start "
                f"({_pid_file(kind)} names none); stop it first"
            )


def start(args: argparse.Namespace) -> None:
    """Start the node (no-op when it runs), wait for green/yellow health, print its URL."""
    if (getattr(args, "nodes", 1) or 1) != 1:
        raise ServiceError("opensearch runs as a single node; --nodes is not supported")
    kind = _kind(args)
    timeout = float(getattr(args, "timeout", None) or DEFAULT_TIMEOUT)
    wipe = bool(getattr(args, "wipe", False))
    with locked(_run(kind) / ".lock"):
        pid = _running_pid(kind)
        if pid is not None and wipe:
            log(f"{kind.label}: stopping the running node (pid {pid}) before wiping")
            _stop_running(kind, pid)
            pid = None
        if pid is not None:
            running = pid
            kind = _as_running(kind)
            if not wait_until(
                lambda: _healthy(kind), timeout, alive=lambda: pid_alive(running, _marker(kind))
            ):
                raise _failure(kind, f"runs (pid {running}) but its health is not green/yellow")
            print(kind.contact(), flush=True)
            return

        _pid_file(kind).unlink(missing_ok=True)  # stale: its process is gone
        if wipe:
            log(f"{kind.label}: wiping {_data(kind)}")
            shutil.rmtree(_data(kind), ignore_errors=True)
        _check_ports_free(kind)
        java_home = _java_home()
        classpath = _build(java_home)
        plugin = None
        if kind.secure:
            plugin = _security_plugin(java_home, classpath)
            classpath = [*classpath, *plugin.extra_classpath]
            _make_certificates(kind)
        _prepare_home(kind, plugin)
        began = time.monotonic()
        launch_until_healthy(
            _jvm_command(kind, java_home / "bin" / "java", classpath),
            label=kind.label, run=_run(kind), log_path=_log_file(kind),
            pid_file=_pid_file(kind), waiting_for=f"{kind.url}/_cluster/health (heap {HEAP})",
            healthy=lambda: _healthy(kind), timeout=timeout,
            failure=lambda why: _failure(kind, why),
            stop=lambda pid: _stop_running(kind, pid), then=lambda: _default_no_replicas(kind),
        )
        log(
            f"{kind.label}: {_version(kind)} ready at {kind.url} in "
            f"{time.monotonic() - began:.1f}s"
        )
    print(kind.contact(), flush=True)


def stop(args: argparse.Namespace) -> None:
    """Stop the node this run dir started (by PID); fine when nothing runs."""
    kind = _kind(args)
    with locked(_run(kind) / ".lock"):
        pid = _running_pid(kind)
        if pid is None:
            _pid_file(kind).unlink(missing_ok=True)
            log(f"{kind.label}: not running")
            return
        _stop_running(kind, pid)
    log(f"{kind.label}: stopped pid {pid}")


def _status_of(kind: NodeKind) -> str:
    pid = _running_pid(kind)
    if pid is None:
        return f"{kind.label}: stopped"
    kind = _as_running(kind)
    health = _get_json(kind, "/_cluster/health")
    if health is None:
        return f"{kind.label}: starting (HTTP not answering yet), pid {pid}, {kind.url}"
    return f"{kind.label}: running, pid {pid}, {kind.url} (cluster {health.get('status')})"


def status() -> str:
    """One line per node (plain, secure): stopped, starting, or running with PID, URL, health."""
    return "\n".join(_status_of(NodeKind.of(secure)) for secure in (False, True))


if __name__ == "__main__":
    sys.exit(service_main(sys.argv[1:], __doc__, start=start, stop=stop, status=status,
                          secure=True))
