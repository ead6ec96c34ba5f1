"""Logs: one line per request, as text or as JSON."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from subgraph.logs import JSONFormatter, logging_config
from tests.hostile.server import ROOT, clean_env

from .conftest import GraphQLClient

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
WRONG = 'query Plays { counter(namespace: "nope", name: "x") { count } }'


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "subgraph.requests"]


async def test_each_request_writes_one_line_with_its_fields(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="subgraph.requests"):
        await client.http.post("/graphql", json={"query": WRONG},
                               headers={"traceparent": TRACEPARENT})
    [line] = request_lines(caplog)
    fields: dict[str, Any] = line.request  # type: ignore[attr-defined]
    assert fields.pop("duration_ms") > 0
    assert len(fields.pop("request_id")) == 16
    assert fields == {
        "method": "POST", "operation_type": "query", "operation_name": "Plays", "status": 200,
        "trace_id": TRACE, "error_codes": ["BAD_USER_INPUT"],
    }
    text = line.getMessage()
    assert text.startswith("POST query Plays 200 in ") and text.endswith(": BAD_USER_INPUT")
    assert f"trace {TRACE}" in text


async def test_a_refused_request_has_its_line_too(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="subgraph.requests"):
        await client.http.post("/graphql", content=b"{}", headers={"content-type": "text/xml"})
    [line] = request_lines(caplog)
    fields = line.request  # type: ignore[attr-defined]
    assert (fields["status"], fields["operation_type"], fields["error_codes"]) == (
        415, "none", ["UNSUPPORTED_MEDIA_TYPE"])
    assert fields["trace_id"] is None
    assert "application/json" in fields["refusal"]


async def test_a_server_errors_traceback_and_the_request_line_share_the_request_id(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(client.gateway.counters, "get_many", broken)
    with caplog.at_level(logging.INFO):
        response = await client.post('{ counter(namespace: "page_views", name: "x") { count } }')
    request_id = response.json()["errors"][0]["extensions"]["requestId"]
    [line] = request_lines(caplog)
    assert line.request["request_id"] == request_id  # type: ignore[attr-defined]
    assert line.request["error_codes"] == ["INTERNAL_SERVER_ERROR"]  # type: ignore[attr-defined]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert request_id in error.getMessage() and error.exc_info


async def test_the_json_format_writes_each_record_as_one_json_object(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="subgraph.requests"):
        await client.http.post("/graphql", json={"query": WRONG},
                               headers={"traceparent": TRACEPARENT})
    [line] = request_lines(caplog)
    text = JSONFormatter().format(line)
    assert "\n" not in text
    parsed = json.loads(text)
    assert parsed["level"] == "INFO" and parsed["logger"] == "subgraph.requests"
    assert parsed["operation_name"] == "Plays" and parsed["trace_id"] == TRACE
    assert parsed["error_codes"] == ["BAD_USER_INPUT"] and parsed["status"] == 200
    assert parsed["time"].endswith("Z")

    try:
        raise ValueError("boom\nwith a second line")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    parsed = json.loads(JSONFormatter().format(record))
    assert parsed["message"] == "failed here"
    assert "ValueError: boom" in parsed["exception"]


def test_logging_config_routes_uvicorn_through_the_one_handler() -> None:
    config = logging_config("json", "debug")
    assert config["root"] == {"level": "DEBUG", "handlers": ["default"]}
    assert config["formatters"]["default"] == {"()": "subgraph.logs.JSONFormatter"}
    assert config["loggers"]["uvicorn.access"] == {"handlers": [], "propagate": True}
    assert "format" in logging_config("text")["formatters"]["default"]


def test_an_unknown_log_format_is_refused_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "subgraph", "export-schema"], cwd=ROOT, capture_output=True,
        text=True, env={**clean_env(), "SUBGRAPH_LOG_FORMAT": "xml"}, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: SUBGRAPH_LOG_FORMAT must be text or json, not 'xml'"
