"""Command line: `python -m subgraph serve | seed | reindex | export-slices | rotate-token-key |
repair-counters | export-schema`.

Every option has an environment variable (shown in --help), so containers need no arguments.
Logs are text on stderr, or JSON lines with SUBGRAPH_LOG_FORMAT=json; SUBGRAPH_LOG_LEVEL sets
the level (default INFO).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import signal
import sys
import tempfile

from backends import DEFAULT_STORE_URL, redact_url

from .reindex import parse_time


def _env(name: str, default: str | None) -> str | None:
    return os.environ.get(name, default)


# uvicorn's event loops and HTTP parsers: `auto` takes the C one (uvloop, httptools) when it is
# installed (pyproject.toml installs both where they have wheels); the others name one.
LOOPS = ("auto", "asyncio", "uvloop")
PARSERS = ("auto", "h11", "httptools")
# httptools through our protocol: it answers a request before refusing the bytes after it.
HTTP_PROTOCOLS = {"httptools": "subgraph.protocols:HttpToolsProtocol"}


def _server_choice(what: str, value: str, choices: tuple[str, ...], fast: str,
                   plain: str) -> str:
    """The loop or parser `value` resolves to; ValueError naming what is wrong or missing."""
    from importlib.util import find_spec

    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    if value == "auto":
        return fast if find_spec(fast) is not None else plain
    if value == fast and find_spec(fast) is None:
        raise ValueError(f"{what} {fast} is not installed (pip install {fast})")
    return value


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, which is the environment variable's value
    when that is set; a help that says its default itself (in words, or a URL without its
    password) keeps its own."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        default = "none" if action.default is None else "%(default)s"
        if text.endswith(")"):  # "... (env NAME)" becomes "... (env NAME; default: ...)"
            return f"{text[:-1]}; default: {default})"
        return f"{text} (default: {default})"


def _shown(value: str | None, otherwise: str, url: bool = False) -> str:
    """A default for --help: `value` (a URL's password hidden), else the words `otherwise`."""
    if not value:
        return otherwise
    return (redact_url(value) if url else value).replace("%", "%%")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m subgraph", description=__doc__,
                                     formatter_class=_Formatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, formatter_class=_Formatter)

    def data_options(p: argparse.ArgumentParser) -> None:
        store = _env("SUBGRAPH_STORE", DEFAULT_STORE_URL)
        p.add_argument("--store", default=store,
                       help="store URL: sqlite:///path or cassandra://host[,host][:port]/keyspace"
                            f" (env SUBGRAPH_STORE; default: {_shown(store, '', url=True)})")
        namespaces = _env("SUBGRAPH_NAMESPACES", None) or None
        p.add_argument("--namespaces", default=namespaces,
                       help="namespaces TOML file (env SUBGRAPH_NAMESPACES; default: "
                            f"{_shown(namespaces, 'the shipped abstractions/namespaces.toml')})")
        relational = _env("SUBGRAPH_RELATIONAL", None) or None
        p.add_argument("--relational", default=relational,
                       help="relational store URL: postgresql://user:pass@host:port/db"
                            " (env SUBGRAPH_RELATIONAL; default: " + _shown(
                                relational, "the store's SQLite file", url=True) + ")")
        search = _env("SUBGRAPH_SEARCH", None) or None
        p.add_argument("--search", default=search,
                       help="search index URL: opensearch://host[:port][,host...][?prefix=ts-]"
                            " or elasticsearch://... (opensearchs://, elasticsearchs:// for HTTPS)"
                            " (env SUBGRAPH_SEARCH; default: " + _shown(
                                search, "none: the store searches itself, which only SQLite can",
                                url=True) + ")")

    serve = command("serve", "serve GraphQL over HTTP")
    serve.add_argument("--host", default=_env("SUBGRAPH_HOST", "127.0.0.1"),
                       help="bind address (env SUBGRAPH_HOST)")
    serve.add_argument("--port", type=int, default=int(_env("SUBGRAPH_PORT", "4001") or 4001),
                       help="port (env SUBGRAPH_PORT)")
    serve.add_argument("--workers", type=int,
                       default=int(_env("SUBGRAPH_WORKERS", "1") or 1),
                       help="uvicorn worker processes (env SUBGRAPH_WORKERS); /metrics adds up"
                            " every worker's, through files in $PROMETHEUS_MULTIPROC_DIR"
                            " (default: a temporary folder made and removed by serve)")
    serve.add_argument("--drain-seconds", type=float,
                       default=float(_env("SUBGRAPH_DRAIN_SECONDS", "10") or 10),
                       help="on SIGTERM, wait at most this long for requests in flight"
                            " (env SUBGRAPH_DRAIN_SECONDS)")
    serve.add_argument("--loop", choices=LOOPS, default=_env("SUBGRAPH_LOOP", "auto") or "auto",
                       help="event loop: auto is uvloop when installed, else asyncio"
                            " (env SUBGRAPH_LOOP)")
    serve.add_argument("--http", choices=PARSERS, default=_env("SUBGRAPH_HTTP", "auto") or "auto",
                       help="HTTP/1.1 parser: auto is httptools when installed, else h11"
                            " (env SUBGRAPH_HTTP)")
    serve.add_argument("--demo", action="store_true",
                       default=_env("SUBGRAPH_DEMO", "0") == "1",
                       help="load demo data on first start (env SUBGRAPH_DEMO=1)")
    data_options(serve)
    _tls_options(serve)
    _auth_options(serve)
    seed = command("seed", "write the demo data once")
    data_options(seed)
    reindex = command("reindex", "rebuild a namespace's search index from the primary store")
    reindex.add_argument("namespace", help="a time-series namespace with search = true")
    reindex.add_argument("--since", type=parse_time, default=None,
                         help="ISO-8601 start (default: the namespace's retention ago)")
    reindex.add_argument("--until", type=parse_time, default=None,
                         help="ISO-8601 end, exclusive (default: a day from now)")
    data_options(reindex)
    export = command("export-slices",
                     "copy a namespace's closed slices into its analytics (Iceberg) table")
    export.add_argument("namespace", help="a time-series namespace with analytics = true")
    export.add_argument("--until", type=parse_time, default=None,
                        help="ISO-8601: only slices ending at or before this (default: every"
                             " closed slice)")
    data_options(export)
    rotate = command(
        "rotate-token-key",
        "put a new page-token signing key in service; cursors signed with the old ones"
        " keep working for the grace period",
    )
    rotate.add_argument("--grace-seconds", type=_positive,
                        default=_env("SUBGRAPH_TOKEN_GRACE_SECONDS", "86400"),
                        help="how long the old keys are still accepted"
                             " (env SUBGRAPH_TOKEN_GRACE_SECONDS)")
    data_options(rotate)
    repair = command("repair-counters", "recompute counters' rollups from their event log")
    repair.add_argument("namespace", help="an eventual or accurate counter namespace")
    repair.add_argument("names", nargs="*", help="counters to repair (default: all of them)")
    data_options(repair)
    command("export-schema", "print the subgraph SDL")
    return parser


def _tls_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--tls-cert", metavar="FILE",
                       default=_env("SUBGRAPH_TLS_CERT", None) or None,
                       help="serve HTTPS (TLS 1.2+) with this PEM certificate chain; needs"
                            " --tls-key (env SUBGRAPH_TLS_CERT; default: plain HTTP)")
    serve.add_argument("--tls-key", metavar="FILE",
                       default=_env("SUBGRAPH_TLS_KEY", None) or None,
                       help="the PEM private key of --tls-cert (env SUBGRAPH_TLS_KEY)")
    serve.add_argument("--tls-client-ca", metavar="FILE",
                       default=_env("SUBGRAPH_TLS_CLIENT_CA", None) or None,
                       help="mutual TLS: require a client certificate signed by a CA in this PEM"
                            " file (env SUBGRAPH_TLS_CLIENT_CA; default: no client certificate"
                            " asked for)")


def _auth_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--auth", default=_env("SUBGRAPH_AUTH", "none"),
                   help="jwt: every request but `_service { sdl }` needs a bearer JWT signed by"
                        " a key of --jwks; none: no authentication, loopback addresses only"
                        " (env SUBGRAPH_AUTH)")
    p.add_argument("--jwks", default=_env("SUBGRAPH_JWKS", None),
                   help="the keys tokens are signed with: a JWKS file (re-read when it changes)"
                        " or https:// URL (fetched again every 5 minutes and for unknown kids)"
                        " (env SUBGRAPH_JWKS)")
    p.add_argument("--jwks-ca", default=_env("SUBGRAPH_JWKS_CA", None),
                   help="CA certificates file to trust for an https JWKS"
                        " (env SUBGRAPH_JWKS_CA; default: the system's trust store)")
    p.add_argument("--jwt-issuer", default=_env("SUBGRAPH_JWT_ISSUER", None),
                   help="the `iss` every token must carry (env SUBGRAPH_JWT_ISSUER)")
    p.add_argument("--jwt-audience", default=_env("SUBGRAPH_JWT_AUDIENCE", None),
                   help="the `aud` every token must carry (env SUBGRAPH_JWT_AUDIENCE)")
    p.add_argument("--jwt-leeway", type=float,
                   default=_env("SUBGRAPH_JWT_LEEWAY_SECONDS", "30"),
                   help="seconds of clock skew allowed on exp, nbf and iat"
                        " (env SUBGRAPH_JWT_LEEWAY_SECONDS)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   default=_env("SUBGRAPH_INSECURE_NO_AUTH", "0") == "1",
                   help="serve without authentication on an address other than loopback"
                        " (env SUBGRAPH_INSECURE_NO_AUTH=1): anyone who reaches it may read"
                        " and write everything")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .logs import LogConfigError, configure, log_format

    try:
        args.log_format = log_format()
    except LogConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.log_level = os.environ.get("SUBGRAPH_LOG_LEVEL", "INFO")
    configure(args.log_format, args.log_level)
    if getattr(args, "relational", None):  # read by Settings, here and in the workers
        os.environ["SUBGRAPH_RELATIONAL"] = args.relational
    if args.command == "export-schema":
        from .schema import export_sdl

        sys.stdout.write(export_sdl())
        return 0
    if args.command == "seed":
        return asyncio.run(_seed(args.store, args.namespaces, args.search))
    if args.command == "reindex":
        from .reindex import run

        return asyncio.run(run(args))
    if args.command == "export-slices":
        from .export_slices import run as export_slices

        return asyncio.run(export_slices(args))
    if args.command == "rotate-token-key":
        return asyncio.run(_rotate(args.store, args.namespaces, args.grace_seconds))
    if args.command == "repair-counters":
        from .repair import run as repair

        return asyncio.run(repair(args))
    return _serve(args)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return value


async def _seed(store: str, namespaces: str | None, search: str | None) -> int:
    from .app import Settings, open_gateway
    from .seed import seed_demo_data

    gateway = open_gateway(Settings(store, namespaces, search_url=search))
    await gateway.start(background=False)
    try:
        wrote = await seed_demo_data(gateway)
    finally:
        await gateway.stop()
    print("demo data written" if wrote else "demo data already present")
    return 0


async def _rotate(store: str, namespaces: str | None, grace_seconds: float) -> int:
    from datetime import UTC, datetime

    from .app import Settings, open_gateway

    gateway = open_gateway(Settings(store, namespaces))
    if gateway.signing_keys is None:
        print("SUBGRAPH_TOKEN_SECRET is set, so page tokens are not signed with the store's keys:"
              " to rotate it, set the old value as SUBGRAPH_TOKEN_SECRET_PREVIOUS and a new"
              " SUBGRAPH_TOKEN_SECRET on every process", file=sys.stderr)
        return 2
    await gateway.start(background=False)
    try:
        key = await gateway.signing_keys.rotate(grace_seconds)
    finally:
        await gateway.stop()
    until = datetime.fromtimestamp(key.created / 1e6 + grace_seconds, UTC).isoformat()
    print(f"signing key {key.id.hex()} is in service; cursors signed with the previous keys are"
          f" accepted until {until}")
    return 0


def _check_cache(args: argparse.Namespace) -> int | None:
    """Several workers with cached namespaces need a shared cache: each worker's in-process
    LRU would miss the other workers' invalidations and serve stale pages."""
    if args.workers <= 1 or os.environ.get("SUBGRAPH_CACHE", "").startswith("memcached://"):
        return None
    from abstractions.namespaces import NamespaceConfigError, load_namespaces

    try:
        namespaces = load_namespaces(args.namespaces)
    except NamespaceConfigError:
        return None  # reported where the app loads them
    cached = [ns.name for ns in namespaces.all() if getattr(ns, "cache_ttl_seconds", 0)]
    if not cached:
        return None
    print(f"python -m subgraph serve: --workers {args.workers} with cached namespaces "
          f"({', '.join(cached)}) needs SUBGRAPH_CACHE=memcached://host:port: the in-process "
          "cache of one worker would not see the others' writes", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    refused = _check_auth(args)
    if refused is not None:
        return refused

    from .gc_tuning import threshold as gc_threshold
    from .tls import TlsConfigError, tls_settings

    try:
        tls = tls_settings(args.tls_cert, args.tls_key, args.tls_client_ca)
        loop = _server_choice("--loop (SUBGRAPH_LOOP)", args.loop, LOOPS, "uvloop", "asyncio")
        http = _server_choice("--http (SUBGRAPH_HTTP)", args.http, PARSERS, "httptools", "h11")
        gc_threshold()  # each worker applies it when it imports the app (subgraph.asgi)
    except (TlsConfigError, ValueError) as exc:
        print(f"python -m subgraph serve: {exc}", file=sys.stderr)
        return 2
    refused = _check_cache(args)
    if refused is not None:
        return refused
    logging.getLogger("subgraph").info(
        "serving %s; event loop %s, HTTP parser %s",
        tls.describe() if tls else "plain http (no TLS)", loop, http)

    # Workers are separate processes: they rebuild the app from the environment.
    os.environ["SUBGRAPH_STORE"] = args.store
    if args.namespaces:
        os.environ["SUBGRAPH_NAMESPACES"] = args.namespaces
    os.environ["SUBGRAPH_DEMO"] = "1" if args.demo else "0"
    if args.search:
        os.environ["SUBGRAPH_SEARCH"] = args.search
    # After its graceful shutdown uvicorn re-raises the SIGTERM it caught; under the default
    # handler the process would then die of the signal (status 143) although it stopped cleanly.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    from .logs import logging_config
    from .metrics import MULTIPROC_DIR

    shared = None
    if args.workers > 1 and not os.environ.get(MULTIPROC_DIR):
        # Each worker writes its metrics here (set before they start: prometheus_client reads
        # it when first imported), and /metrics in any of them adds all up.
        shared = os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix="subgraph-metrics-")
    try:
        uvicorn.run(
            "subgraph.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers if args.workers > 1 else None,
            loop=loop,
            http=HTTP_PROTOCOLS.get(http, http),
            factory=False,
            log_level="info",
            log_config=logging_config(args.log_format, args.log_level),
            access_log=False,  # each request's line is ours (subgraph.logs)
            timeout_graceful_shutdown=max(1, round(args.drain_seconds)),
            **(tls.uvicorn_options() if tls else {}),
        )
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
            del os.environ[MULTIPROC_DIR]
    return 0


def _check_auth(args: argparse.Namespace) -> int | None:
    """Exit status 2, with one line on stderr, for authentication settings that cannot work (or
    no authentication beyond loopback); else the settings go to the workers' environment."""
    from dataclasses import replace

    from .auth import AuthConfigError, Authenticator, AuthSettings, is_loopback

    async def load_keys(auth: Authenticator) -> None:
        try:
            await auth.start()
        finally:
            await auth.aclose()

    try:
        settings = replace(
            AuthSettings.from_env(), mode=args.auth.strip().lower(), jwks=args.jwks or None,
            jwks_ca=args.jwks_ca or None, issuer=args.jwt_issuer or None,
            audience=args.jwt_audience or None, leeway_seconds=args.jwt_leeway,
        )
        asyncio.run(load_keys(Authenticator(settings)))
    except AuthConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.enabled and not is_loopback(args.host):
        if not args.insecure_no_auth:
            print(f"error: refusing to serve on {args.host} without authentication: use"
                  " --auth jwt --jwks ... (SUBGRAPH_AUTH=jwt), or --insecure-no-auth"
                  " (SUBGRAPH_INSECURE_NO_AUTH=1) if something in front authenticates callers",
                  file=sys.stderr)
            return 2
        logging.getLogger("subgraph").warning(
            "--insecure-no-auth: serving on %s without authentication", args.host)
    values = {
        "SUBGRAPH_AUTH": settings.mode, "SUBGRAPH_JWKS": settings.jwks,
        "SUBGRAPH_JWKS_CA": settings.jwks_ca, "SUBGRAPH_JWT_ISSUER": settings.issuer,
        "SUBGRAPH_JWT_AUDIENCE": settings.audience,
        "SUBGRAPH_JWT_LEEWAY_SECONDS": str(settings.leeway_seconds),
    }
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return None


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    raise SystemExit(main())
