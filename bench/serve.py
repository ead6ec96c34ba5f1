"""`python -m bench.serve [--prepared] [--loop L] [--http H] SERVE-OPTIONS...`: the shipped
`python -m subgraph serve` (its own code: options, logging, TLS, signals, uvicorn settings), for
the HTTP benchmarks.

- `--prepared`: serve the shipped app (`subgraph.app.create_app`: schema, HTTP view, metrics,
  middleware) over `bench.doubles.PreparedGateway` instead of a store.  `serve` hands uvicorn
  `subgraph.asgi:app`; that module's `app` is replaced, before `serve` runs, by one built the
  same way over the double.  One worker only: other workers would import the module afresh.
- `--loop`, `--http`: what uvicorn gets for these whatever `serve` passes (e.g. `asyncio` and
  `h11`, to see what uvloop and httptools bring).

Once uvicorn has started, one line on stderr says what it serves with:
`bench.serve: {"loop": "<event loop class>", "http": "<protocol class>"}` (`serving_with`
reads it from the log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .doubles import PlaybackData, PreparedGateway, profile_ids

MARK = "bench.serve: "
PROFILES = 100
EVENTS = 10


def serving_with(log: Path) -> dict[str, str] | None:
    """What `bench.serve` reported it serves with, from its log; None if it did not say."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return None


def _prepared_app() -> None:
    import subgraph.asgi
    from subgraph.app import Settings, create_app
    from subgraph.gc_tuning import tune

    data = PlaybackData.build(profile_ids(PROFILES), EVENTS)
    subgraph.asgi.app = create_app(
        Settings(store_url="prepared:bench.doubles.PreparedGateway"),
        gateway=PreparedGateway(data),  # type: ignore[arg-type]
    )
    tune()  # as subgraph.asgi does after building its app: the prepared data is frozen too


def _override(loop: str | None, http: str | None) -> None:
    """Whatever `serve` passes, uvicorn's `Config` (which `uvicorn.run` and `Server` both take
    their settings from) gets these."""
    from uvicorn.config import Config

    init = Config.__init__

    def forced(self: Config, *args: Any, **options: Any) -> None:
        if loop:
            options["loop"] = loop
        if http:
            options["http"] = http
        init(self, *args, **options)

    Config.__init__ = forced  # type: ignore[method-assign]


def _report_startup() -> None:
    from uvicorn.server import Server

    startup = Server.startup

    async def reporting(self: Server, sockets: Any = None) -> None:
        await startup(self, sockets=sockets)
        loop = type(asyncio.get_running_loop())
        protocol = getattr(self.config, "http_protocol_class", None)
        said = {"loop": f"{loop.__module__}.{loop.__qualname__}",
                "http": getattr(protocol, "__name__", repr(protocol))}
        print(MARK + json.dumps(said), file=sys.stderr, flush=True)

    Server.startup = reporting  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepared", action="store_true",
                        help="serve the prepared data of bench.doubles instead of a store")
    parser.add_argument("--loop", help="uvicorn's event loop: auto, asyncio, uvloop")
    parser.add_argument("--http", help="uvicorn's HTTP protocol: auto, h11, httptools")
    args, serve_args = parser.parse_known_args(argv)
    if args.prepared:
        if "--workers" in serve_args:
            parser.error("--prepared serves from this process: no --workers")
        _prepared_app()
    if args.loop or args.http:
        _override(args.loop, args.http)
    _report_startup()
    from subgraph.__main__ import main as subgraph_main

    return subgraph_main(["serve", *serve_args])


if __name__ == "__main__":
    raise SystemExit(main())
