"""GraphiQL from the package itself: the page that GET /graphql shows a browser, and its assets.

Nothing is loaded from another host, so GraphiQL works offline.  The browser builds of React,
GraphiQL and its explorer plugin in `static/graphiql/vendor/` are copied from the npm registry by
`scripts/build-graphiql` (exact versions in tools/graphiql/package-lock.json, listed with their
SHA-256 in `vendor/manifest.json`) and committed, so `pip install` needs no Node.

Each asset is served at `/graphiql/<digest>/<name>`, the digest taken from its content: a new
build gets new URLs, so an asset is cached for a year without revalidation, and a digest that is
not the current one is 404.  The page itself is never cached, links only to those URLs
(relative ones, so a path prefix in front of the app keeps working), and its
Content-Security-Policy lets it load and fetch from its own origin alone.  It holds no data, so
it is served without a token even when bearer authentication is on; the headers editor is where
a user puts one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

STATIC = Path(__file__).with_name("static") / "graphiql"
PREFIX = "graphiql"  # the assets' path, beside /graphql
IMMUTABLE = "public, max-age=31536000, immutable"
POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # GraphiQL's dialogs add a <style> (react-remove-scroll)
    "img-src 'self' data:",
    "font-src 'self' data:",  # GraphiQL's fonts are data: URLs in its CSS
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_SLOT = re.compile(r"\{([\w.-]+)\}")


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    digest: str
    media_type: str

    @property
    def url(self) -> str:
        return f"{PREFIX}/{self.digest}/{self.name}"


class GraphiQLAssets:
    """The page template and the assets it names, read once from `directory`."""

    def __init__(self, directory: Path = STATIC) -> None:
        vendor = json.loads((directory / "vendor" / "manifest.json").read_text())
        paths = [directory / "vendor" / name for name in vendor["files"]]
        paths += [directory / "page.css", directory / "start.js"]
        self.assets: dict[str, Asset] = {}
        for path in paths:
            body = path.read_bytes()
            self.assets[path.name] = Asset(
                path.name, body, hashlib.sha256(body).hexdigest()[:16], MEDIA_TYPES[path.suffix]
            )
        self.versions = {name: info["version"] for name, info in vendor["packages"].items()}
        self._template = (directory / "index.html").read_text()
        self.page(bearer=False)  # a slot naming no asset fails here, at start, not on a request

    def page(self, *, bearer: bool) -> Response:
        """The HTML page; `bearer`: authentication is on (the page opens the headers editor)."""
        def fill(slot: re.Match[str]) -> str:
            name = slot.group(1)
            if name == "auth":
                return "bearer" if bearer else "none"
            return self.assets[name].url

        return HTMLResponse(_SLOT.sub(fill, self._template), headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        })

    async def asset(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["name"])
        if asset is None or asset.digest != request.path_params["digest"]:
            return PlainTextResponse("not found\n", status_code=404,
                                     headers={"Cache-Control": "no-cache"})
        return Response(asset.body, media_type=asset.media_type, headers={
            "Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff",
        })

    def mount(self) -> Mount:
        """The assets' route, gzipped for clients that accept it."""
        router = Router([Route("/{digest}/{name}", self.asset, methods=["GET", "HEAD"])])
        return Mount(f"/{PREFIX}", app=GZipMiddleware(router, minimum_size=1024))


@functools.cache
def graphiql_assets() -> GraphiQLAssets:
    """The package's GraphiQL, loaded once per process."""
    return GraphiQLAssets()
