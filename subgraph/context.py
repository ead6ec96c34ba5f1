"""The per-request context: the caller's view of the gateway, this request's dataloaders, and a
request id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from abstractions.access import Caller, CallerGateway
from abstractions.gateway import DataGateway

from .idempotency import Idempotency
from .limits import Limits
from .loaders import Loaders


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
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @classmethod
    def create(
        cls, gateway: DataGateway, limits: Limits, caller: Caller | None = None
    ) -> Context:
        """`caller`: who is asking (the HTTP layer's verified token); None for a server
        without authentication."""
        caller = caller or Caller.unchecked()
        view = gateway.for_caller(caller)
        return cls(view, limits, Loaders(view), Idempotency(gateway, caller.subject), caller)
