"""`python -m bench [--quick] [--only NAME ...] [--json PATH] [--profile]` (see bench/README.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from . import Options, batching, graphql_exec, http_load, machine, store_cassandra, store_sqlite
from .report import Table, render, write_json

BENCHMARKS: dict[str, ModuleType] = {
    m.NAME: m for m in (graphql_exec, http_load, batching, store_cassandra, store_sqlite)
}
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs and shorter windows (about two minutes in all)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"where to write the figures (default {DEFAULT_JSON})")
    parser.add_argument("--profile", action="store_true",
                        help="also print the top of the profile of our GraphQL execution")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = Options(quick=args.quick)
    chosen = [name for name in BENCHMARKS if not args.only or name in args.only]
    info = machine.describe()
    print(f"machine: {machine.one_line(info)}")
    print(f"mode: {'quick' if options.quick else 'full'}; benchmarks: {', '.join(chosen)}\n",
          flush=True)
    document: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {"quick": options.quick, "only": chosen},
        "machine": info,
        "benchmarks": {},
    }
    failed = False
    for name in chosen:
        module = BENCHMARKS[name]
        started = time.monotonic()
        print(f"... {name}", file=sys.stderr, flush=True)
        try:
            figures = module.run(options)
            sections: list[Table] = module.tables(figures)
            if args.profile and name == graphql_exec.NAME:
                sections += graphql_exec.profile_tables(figures)
        except Exception as exc:
            failed = True
            figures = {"error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()}
            sections = [Table(f"{name}: failed", ["error"], [[figures["error"]]])]
        figures["seconds"] = round(time.monotonic() - started, 1)
        figures["load_average_after"] = round(os.getloadavg()[0], 2)
        document["benchmarks"][name] = figures
        for table in sections:
            print(render(table) + "\n", flush=True)
    write_json(args.json, document)
    print(f"figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
