"""Request limits: document shape, list arguments, caches; every one configurable."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one request from taking the service down; see README "Configuration"."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    parser_cache_size: int = 256
    validation_cache_size: int = 256
    max_first: int = 100
    max_names: int = 500
    max_items_per_write: int = 500

    @classmethod
    def from_env(cls) -> Limits:
        """`SUBGRAPH_MAX_DEPTH`, `SUBGRAPH_MAX_ALIASES`, ... override the defaults."""
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = os.environ.get(f"SUBGRAPH_{f.name.upper()}")
            if raw is not None:
                number = int(raw)
                if number < 1:
                    raise ValueError(f"SUBGRAPH_{f.name.upper()} must be at least 1")
                values[f.name] = number
        return cls(**values)
