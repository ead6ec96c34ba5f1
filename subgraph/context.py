"""The per-request context: the gateway, this request's dataloaders, and a request id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from abstractions.access import Caller
from abstractions.gateway import DataGateway

from .idempotency import Idempotency
from .limits import Limits
from .loaders import Loaders


@dataclass(slots=True)
class Context:
    """Built once per request; loaders live exactly as long as the request."""

    gateway: DataGateway
    limits: Limits
    loaders: Loaders
    idempotency: Idempotency
    caller: Caller = field(default_factory=Caller.unchecked)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @classmethod
    def create(
        cls, gateway: DataGateway, limits: Limits, caller: Caller | None = None
    ) -> Context:
        """`caller`: who is asking (the HTTP layer's verified token); None for a server
        without authentication."""
        caller = caller or Caller.unchecked()
        return cls(gateway, limits, Loaders(gateway), Idempotency(gateway), caller)
