"""`python -m bench [--quick] [--only NAME ...] [--soak [--soak-seconds S]] [--json PATH]
[--profile]` (see bench/README.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from . import (
    Options,
    analytics_columnar,
    batching,
    cache_tier,
    choose,
    graphql_exec,
    http_apollo,
    http_load,
    machine,
    relational_billing,
    soak,
    store_cassandra,
    store_sqlite,
)
from .report import Table, Target, render, targets_table, write_json

BENCHMARKS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (graphql_exec, http_load, batching, store_cassandra, store_sqlite, http_apollo, soak,
              cache_tier, analytics_columnar, relational_billing)
}
# Run only when asked for: by --soak, or by name in --only (the analytics one loads 2 million
# events first: about 4 minutes).
ON_REQUEST = {soak.NAME, analytics_columnar.NAME}
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs and shorter windows (same figures, noisier)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--soak", action="store_true",
                        help="run the soak (alone, unless --only names others too)")
    parser.add_argument("--soak-seconds", type=float, default=600.0,
                        help="how long the soak runs (default 600)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"where to write the figures (default {DEFAULT_JSON})")
    parser.add_argument("--profile", action="store_true",
                        help="also print the top of the profile of our GraphQL execution")
    return parser


def _targets(module: ModuleType, name: str, figures: dict[str, Any]) -> list[Target]:
    judge = getattr(module, "targets", None)
    if judge is None:
        return []
    if "error" in figures:
        return [Target(f"{name}: every target", "-", None, None, "the benchmark failed")]
    try:
        return judge(figures)
    except Exception as exc:
        return [Target(f"{name}: every target", "-", None, None,
                       f"cannot judge: {type(exc).__name__}: {exc}")]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.soak_seconds <= 0:
        _parser().error("--soak-seconds must be above 0")
    options = Options(quick=args.quick, soak_seconds=args.soak_seconds)
    chosen = choose(list(BENCHMARKS), ON_REQUEST, args.only, {soak.NAME} if args.soak else set())
    info = machine.describe()
    print(f"machine: {machine.one_line(info)}")
    print(f"mode: {'quick' if options.quick else 'full'}; benchmarks: {', '.join(chosen)}\n",
          flush=True)
    document: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {"quick": options.quick, "only": chosen,
                    "soak_seconds": options.soak_seconds},
        "machine": info,
        "benchmarks": {},
    }
    failed = False
    judged: list[tuple[str, Target]] = []
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
            figures = {"error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()}
            sections = [Table(f"{name}: failed", ["error"], [[figures["error"]]])]
        failed |= "error" in figures or bool(figures.get("partial_failure"))
        judged += [(name, t) for t in _targets(module, name, figures)]
        figures["seconds"] = round(time.monotonic() - started, 1)
        figures["load_average_after"] = round(os.getloadavg()[0], 2)
        document["benchmarks"][name] = figures
        for table in sections:
            print(render(table) + "\n", flush=True)
    if judged:
        print(render(targets_table(judged)) + "\n", flush=True)
    document["targets"] = [{"benchmark": name, **asdict(t)} for name, t in judged]
    write_json(args.json, document)
    print(f"figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
