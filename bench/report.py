"""The printed table and the JSON file: the same figures, two renderings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Table:
    """One section of the printed report."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left: frozenset[int] = frozenset({0})  # columns of text, aligned left; numbers align right


@dataclass(frozen=True, slots=True)
class Target:
    """A target of the issue and how this run measured against it; `met` None: not judged
    (the benchmark was skipped or failed, `note` says why)."""

    what: str
    target: str
    measured: str | None
    met: bool | None
    note: str = ""


def targets_table(targets: list[tuple[str, Target]]) -> Table:
    """Every target of the run, by benchmark, with its verdict."""
    table = Table("Targets: measured in this run", ["benchmark", "what", "target", "measured",
                                                     "verdict"], left=frozenset({0, 1, 4}))
    for name, t in targets:
        verdict = {True: "met", False: "NOT MET", None: "not judged"}[t.met]
        table.rows.append([name, t.what, t.target, t.measured or "-",
                           verdict + (f" ({t.note})" if t.note else "")])
    return table


def render(table: Table) -> str:
    widths = [len(h) for h in table.header]
    for row in table.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in table.left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [f"== {table.title}"]
    if table.header:
        out += [line(table.header), line(["-" * w for w in widths])]
        out += [line(row) for row in table.rows]
    out += [f"   {note}" for note in table.notes]
    return "\n".join(out)


def skipped(title: str, reason: str) -> Table:
    return Table(title, [], notes=[f"skipped: {reason}"])


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
