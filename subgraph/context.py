"""The per-request context: the gateway, this request's dataloaders, and a request id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

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
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @classmethod
    def create(cls, gateway: DataGateway, limits: Limits) -> Context:
        return cls(gateway, limits, Loaders(gateway), Idempotency(gateway))
