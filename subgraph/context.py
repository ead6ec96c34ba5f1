"""The per-request context: the caller's view of the gateway, this request's dataloaders, and a
request id."""

from __future__ import annotations

from dataclasses import dataclass, field

from abstractions.access import Caller, CallerGateway
from abstractions.gateway import DataGateway

from .idempotency import Idempotency
from .limits import Limits
from .loaders import Loaders
from .telemetry import RequestRecord, Telemetry, new_request_id


@dataclass(slots=True)
class Context:
    """Built once per request; loaders live exactly as long as the request.

    `gateway` is the caller's view (`DataGateway.for_caller`): every read and write through it
    is decided by the namespace's policy, so resolvers never check scopes themselves.
    """

    gateway: CallerGateway
    limits: Limits
    loaders: Loaders
    idempotency: Idempotency
    caller: Caller
    request_id: str = field(default_factory=new_request_id)
    record: RequestRecord | None = None

    @classmethod
    def create(
        cls, gateway: DataGateway, limits: Limits, caller: Caller | None = None, *,
        record: RequestRecord | None = None, telemetry: Telemetry | None = None,
    ) -> Context:
        """`caller`: who is asking (the HTTP layer's verified token); None for a server
        without authentication.  `record`: the HTTP request's (its id is the request id);
        `telemetry`: what measures the dataloaders' batches."""
        caller = caller or Caller.unchecked()
        view = gateway.for_caller(caller)
        loaders = Loaders(view, telemetry.loader_batch if telemetry is not None else None)
        idempotency = Idempotency(gateway, caller.subject)
        if record is None:
            return cls(view, limits, loaders, idempotency, caller)
        return cls(view, limits, loaders, idempotency, caller, record.request_id, record)
