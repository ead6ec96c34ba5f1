"""A scenario's numbers, its verdict, and the summary table printed at the end of the session."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .check import Finding, ReadBack
from .load import Request

COLUMNS = ("scenario", "store", "requests", "failed", "worst latency", "lost acked writes",
           "wrong answers", "duplicates", "verdict")


@dataclass
class Result:
    """One scenario on one store.  `failed` counts every request that did not answer data
    without errors; `accepted` those of them the scenario's rules allow (a fault's grace
    window, UNAVAILABLE while a node lacks the schema).  `wrong` counts read answers with less
    than was acknowledged, a count no order of the writes makes, or something never written,
    during the load and in the read-back; `duplicates` the counters the read-back found above
    what every write applied once makes (writes applied twice)."""

    scenario: str
    store: str
    requests: int = 0
    failed: int = 0
    accepted: int = 0
    worst_latency: float = 0.0
    lost: int = 0
    wrong: int = 0
    duplicates: int = 0
    verdict: str = "FAIL"
    reasons: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def count_requests(self, requests: Iterable[Request],
                       accept: Callable[[Request], bool] = lambda r: False,
                       latency_since: float = 0.0) -> None:
        """Count requests and failures; the worst latency of those that ended after
        `latency_since` (the fault: the warm-up makes tables and fills caches)."""
        codes: Counter[str] = Counter()
        for request in requests:
            self.requests += 1
            if request.ended >= latency_since:
                self.worst_latency = max(self.worst_latency, request.ended - request.started)
            if request.code != "ok":
                self.failed += 1
                codes[f"{request.kind} {request.code}"] += 1
                self.accepted += accept(request)
        self.notes["failed_by_code"] = dict(codes.most_common())

    def count_findings(self, findings: Iterable[Finding], origin: float) -> None:
        """Count the judged fields of the reads; when wrong ones came (seconds since `origin`,
        the scenario's start) goes to the notes with a few examples."""
        examples: list[str] = []
        reads: Counter[str] = Counter()
        times: list[float] = []
        for finding in findings:
            reads[finding.verdict] += 1
            if finding.verdict in ("wrong", "duplicate"):
                # A count above every write is a wrong answer too; the read-back counts the
                # writes applied twice (`duplicates`).
                self.wrong += 1
                times.append(round(finding.at - origin, 2))
                if len(examples) < 8:
                    examples.append(f"{finding.what}: {finding.detail}")
        self.notes["read_fields"] = dict(reads)
        if examples:
            self.notes["wrong_reads"] = examples
            self.notes["wrong_reads_between_seconds"] = [min(times), max(times)]

    def count_read_back(self, name: str, read_back: ReadBack, *, final: bool = True) -> None:
        """Count a read-back.  The final one's missing writes are lost; an earlier one's (say,
        right after a crash, before retries) are wrong answers: the final one counts the loss."""
        self.wrong += read_back.wrong + read_back.unreadable
        if final:
            self.lost += read_back.lost
            self.duplicates += read_back.duplicates
        else:
            self.wrong += read_back.lost + read_back.duplicates
        self.notes[name] = {
            "lost": read_back.lost, "wrong": read_back.wrong, "duplicates": read_back.duplicates,
            "excess_count": read_back.excess,
            "unreadable": read_back.unreadable, "fire_and_forget_lost_in_crash":
            read_back.ff_lost, "details": read_back.details,
        }

    def judge(self, extra: dict[str, bool] | None = None) -> None:
        """PASS when nothing was lost, wrong or duplicated, no failure fell outside the rules,
        and every scenario-specific condition in `extra` (name -> held) held."""
        checks = {
            "no failed request outside the scenario's rules": self.failed == self.accepted,
            "no lost acknowledged write": self.lost == 0,
            "no wrong answer": self.wrong == 0,
            "no duplicate": self.duplicates == 0,
            **(extra or {}),
        }
        self.reasons = [name for name, held in checks.items() if not held]
        self.verdict = "PASS" if not self.reasons else "FAIL"

    def row(self) -> list[str]:
        failed = str(self.failed) + (f" ({self.accepted} accepted)" if self.accepted else "")
        return [self.scenario, self.store, str(self.requests), failed,
                f"{self.worst_latency:.2f}s", str(self.lost), str(self.wrong),
                str(self.duplicates), self.verdict]

    def explain(self) -> str:
        return f"{self.scenario} on {self.store}: {self.verdict}" + (
            " (" + "; ".join(self.reasons) + ")" if self.reasons else "")


def table(results: list[Result]) -> list[str]:
    rows = [list(COLUMNS)] + [r.row() for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def write_json(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str) + "\n")
