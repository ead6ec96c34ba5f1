"""serve refuses several workers over the in-process cache (they would not see each
other's invalidations)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NAMESPACES = """
[namespaces.profile_settings]
abstraction = "kv"
cache_ttl_seconds = 30
"""


def test_serve_with_workers_and_a_cached_namespace_needs_memcached(tmp_path: Path) -> None:
    path = tmp_path / "ns.toml"
    path.write_text(NAMESPACES)
    env = {k: v for k, v in os.environ.items() if k != "SUBGRAPH_CACHE"}
    done = subprocess.run(
        [sys.executable, "-m", "subgraph", "serve", "--workers", "2", "--namespaces", str(path),
         "--store", f"sqlite:///{tmp_path / 'g.db'}", "--port", "0"],
        check=False, capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "SUBGRAPH_CACHE=memcached://" in done.stderr
