"""The ASGI entry point for uvicorn and other servers: `uvicorn subgraph.asgi:app`.

Configured from the environment (SUBGRAPH_STORE, SUBGRAPH_NAMESPACES, SUBGRAPH_SEARCH,
SUBGRAPH_DEMO, limits, and authentication: SUBGRAPH_AUTH, SUBGRAPH_JWKS, SUBGRAPH_JWKS_CA,
SUBGRAPH_JWT_ISSUER, SUBGRAPH_JWT_AUDIENCE, SUBGRAPH_JWT_LEEWAY_SECONDS,
SUBGRAPH_JWKS_REFRESH_SECONDS) and the garbage collector's SUBGRAPH_GC_THRESHOLD.
`python -m subgraph serve` refuses to serve without authentication on other than a loopback
address; run this way, that is up to you.  Tracing follows the OTEL_* variables as under
`serve`; logging, and PROMETHEUS_MULTIPROC_DIR for several workers, are the server's to set up
(`serve` does both: subgraph.logs, subgraph.metrics).
"""

from __future__ import annotations

import os

from backends import DEFAULT_STORE_URL

from .app import Settings, create_app
from .auth import AuthSettings
from .gc_tuning import tune

app = create_app(
    Settings(
        store_url=os.environ.get("SUBGRAPH_STORE", DEFAULT_STORE_URL),
        namespaces_path=os.environ.get("SUBGRAPH_NAMESPACES") or None,
        seed=os.environ.get("SUBGRAPH_DEMO", "0") == "1",
        search_url=os.environ.get("SUBGRAPH_SEARCH") or None,
        auth=AuthSettings.from_env(),
    )
)
# What exists now lives as long as the process: the collector leaves it be (subgraph.gc_tuning).
tune()
