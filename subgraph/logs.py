"""Logging: readable text by default, one JSON object per line with `SUBGRAPH_LOG_FORMAT=json`.

Every request to /graphql writes one line (logger `subgraph.requests`, INFO): its method,
operation, status, duration, request id, trace id and error codes; in JSON those are fields of
the line.  A server error also writes its traceback at ERROR (`subgraph.errors`), under the same
request id.  uvicorn's own lines go through the same handler (its access log is off: the request
line replaces it).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import time
from typing import Any

from opentelemetry import trace

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

requests_log = logging.getLogger("subgraph.requests")


class LogConfigError(ValueError):
    """SUBGRAPH_LOG_FORMAT names no format we write."""


def log_format(value: str | None = None) -> str:
    """`value`, else $SUBGRAPH_LOG_FORMAT, else text; LogConfigError for an unknown one."""
    chosen = (value or os.environ.get("SUBGRAPH_LOG_FORMAT") or "text").strip().lower()
    if chosen not in FORMATS:
        raise LogConfigError(f"SUBGRAPH_LOG_FORMAT must be text or json, not {chosen!r}")
    return chosen


class JSONFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, the request's fields (for
    the request line), the trace it was logged in, and an exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,  # which worker, under serve --workers N
            "message": record.getMessage(),
        }
        line.update(getattr(record, "request", None) or {})
        if "trace_id" not in line:
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                line["trace_id"] = format(context.trace_id, "032x")
                line["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def logging_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the root logger and uvicorn's, in format `fmt`; what
    `serve` gives uvicorn, so every worker process logs alike."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JSONFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    inherit = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {
            "class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr",
        }},
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {"uvicorn": inherit, "uvicorn.error": inherit, "uvicorn.access": inherit},
    }


def configure(fmt: str, level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(fmt, level))
