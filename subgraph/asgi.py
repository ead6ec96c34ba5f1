"""The ASGI entry point for uvicorn and other servers: `uvicorn subgraph.asgi:app`.

Configured from the environment (SUBGRAPH_STORE, SUBGRAPH_NAMESPACES, SUBGRAPH_SEARCH,
SUBGRAPH_DEMO, limits).
"""

from __future__ import annotations

import os

from backends import DEFAULT_STORE_URL

from .app import Settings, create_app

app = create_app(
    Settings(
        store_url=os.environ.get("SUBGRAPH_STORE", DEFAULT_STORE_URL),
        namespaces_path=os.environ.get("SUBGRAPH_NAMESPACES") or None,
        seed=os.environ.get("SUBGRAPH_DEMO", "0") == "1",
        search_url=os.environ.get("SUBGRAPH_SEARCH") or None,
    )
)
