"""GraphiQL from the package (subgraph/graphiql.py): the page names only this server's assets,
which are the committed copies of the lockfile's npm packages, cached for good under URLs that
change with their content.  tests/browser runs the page in Chromium."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from abstractions.gateway import DataGateway
from subgraph.app import Settings, create_app
from subgraph.auth import AuthSettings
from subgraph.graphiql import IMMUTABLE, STATIC, GraphiQLAssets
from subgraph.limits import Limits

from .jwts import AUDIENCE, ISSUER, new_key, write_jwks

ROOT = Path(__file__).resolve().parents[2]
LOCKFILE = ROOT / "tools" / "graphiql" / "package-lock.json"
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def page_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


async def test_a_browser_gets_the_page_with_no_cache_and_a_policy_of_this_origin_only(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    for directive in ("script-src 'self'", "connect-src 'self'"):
        assert directive in policy
    assert "http" not in policy


async def test_every_url_of_the_page_is_an_asset_of_this_server_cached_for_a_year(
    http: httpx.AsyncClient,
) -> None:
    html = (await http.get("/graphql", headers=HTML)).text
    urls = page_urls(html)
    assets = [url for url in urls if not url.startswith("data:")]
    assert len(assets) == 8, urls  # 6 vendored files, page.css, start.js
    for url in assets:
        assert re.fullmatch(r"graphiql/[0-9a-f]{16}/[\w.-]+", url), url  # relative, no host
        response = await http.get(f"/{url}")
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["content-type"].startswith(("text/javascript", "text/css"))
        digest = url.split("/")[1]
        assert hashlib.sha256(response.content).hexdigest().startswith(digest)


async def test_an_asset_under_another_digest_is_not_found(http: httpx.AsyncClient) -> None:
    url = next(u for u in page_urls((await http.get("/graphql", headers=HTML)).text)
               if u.endswith("/graphiql.min.js"))
    stale = url.replace(url.split("/")[1], "0" * 16)
    assert (await http.get(f"/{stale}")).status_code == 404
    assert (await http.get("/graphiql/0000000000000000/secrets.txt")).status_code == 404
    assert (await http.get("/graphiql/x/../../subgraph/app.py")).status_code == 404


async def test_assets_are_gzipped_for_a_client_that_accepts_it(http: httpx.AsyncClient) -> None:
    url = next(u for u in page_urls((await http.get("/graphql", headers=HTML)).text)
               if u.endswith("/graphiql.min.js"))
    response = await http.get(f"/{url}", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == IMMUTABLE
    assert len(response.content) > 1_000_000  # httpx inflated it


def test_the_vendored_files_are_the_lockfiles_packages_byte_for_byte() -> None:
    manifest = json.loads((STATIC / "vendor" / "manifest.json").read_text())
    locked = json.loads(LOCKFILE.read_text())["packages"]
    for package, info in manifest["packages"].items():
        assert locked[f"node_modules/{package}"]["version"] == info["version"], package
    for name, entry in manifest["files"].items():
        data = (STATIC / "vendor" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], (
            f"{name} is not the file scripts/build-graphiql copied: run it again"
        )


def test_the_page_names_only_assets_that_exist() -> None:
    assets = GraphiQLAssets()
    html = assets.page(bearer=False).body.decode()
    assert "{" not in html  # every slot filled
    names = {url.rsplit("/", 1)[1] for url in page_urls(html) if not url.startswith("data:")}
    assert names == set(assets.assets)


@pytest.fixture
def jwt_app(tmp_path: Path, data_gateway: DataGateway, limits: Limits) -> Starlette:
    jwks = write_jwks(tmp_path / "jwks.json", new_key("RS256", "k"))
    settings = AuthSettings(mode="jwt", jwks=str(jwks), issuer=ISSUER, audience=AUDIENCE)
    return create_app(Settings("sqlite://", auth=settings), gateway=data_gateway, limits=limits)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_with_bearer_authentication_the_page_and_assets_need_no_token(
    jwt_app: Starlette, authorization: str | None
) -> None:
    headers = {**HTML, **({"authorization": authorization} if authorization else {})}
    async with (
        jwt_app.router.lifespan_context(jwt_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(jwt_app), base_url="http://t") as http,
    ):
        page = await http.get("/graphql", headers=headers)
        assert page.status_code == 200
        assert 'data-auth="bearer"' in page.text  # the page opens its headers editor
        for url in page_urls(page.text):
            if not url.startswith("data:"):
                assert (await http.get(f"/{url}")).status_code == 200, url
        query = await http.get("/graphql", params={"query": "{ namespaces { name } }"},
                               headers={**headers, "apollo-require-preflight": "true"})
        assert query.status_code == 401  # the data still needs one
